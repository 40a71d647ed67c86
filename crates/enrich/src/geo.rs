//! GeoIP and ASN: who and where an address is, from MaxMind databases
//! (GeoIP2 / GeoLite2 City or Country, ASN, Anonymous IP).
//!
//! [`GeoDatabases::open_dir`] loads every `.mmdb` file of a folder and tells
//! them apart by their metadata's database type, not by file name. A
//! missing folder, a folder without databases, or a corrupt file is an
//! error at start-up naming the file — never a failure mid-batch.
//! [`GeoDatabases::reload_if_changed`] picks up new releases of the files
//! (MaxMind publishes weekly) without a restart.
//!
//! Lookups borrow their strings from the loaded databases: no allocation
//! per lookup.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use maxminddb::Reader;
use serde::Deserialize;

/// A database that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The folder cannot be listed.
    #[error("GeoIP folder {path}: {source}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The folder holds no `.mmdb` file of a known type.
    #[error(
        "no MaxMind database in {0}: expected GeoIP2/GeoLite2 City, Country, ASN or Anonymous-IP .mmdb files \
         (download them from MaxMind, e.g. with geoipupdate)"
    )]
    NoDatabases(PathBuf),
    /// A file is not a readable MaxMind database.
    #[error("MaxMind database {path} cannot be read: {message}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The reader's message.
        message: String,
    },
    /// A record could not be decoded (a damaged database).
    #[error("MaxMind database {path}: bad record for {ip}: {message}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// The address looked up.
        ip: IpAddr,
        /// The reader's message.
        message: String,
    },
}

/// What a database holds, from its metadata's `database_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DbKind {
    /// City (country, city, coordinates).
    City,
    /// Country only.
    Country,
    /// Autonomous system number and organisation.
    Asn,
    /// Anonymous-IP flags (VPN, Tor, hosting, proxies).
    AnonymousIp,
}

impl DbKind {
    fn of(database_type: &str) -> Option<DbKind> {
        let t = database_type.to_ascii_lowercase();
        if t.contains("anonymous-ip") {
            Some(DbKind::AnonymousIp)
        } else if t.contains("asn") {
            Some(DbKind::Asn)
        } else if t.contains("city") {
            Some(DbKind::City)
        } else if t.contains("country") {
            Some(DbKind::Country)
        } else {
            None
        }
    }
}

/// Anonymous-IP flags; all false when the address is not listed or there
/// is no Anonymous-IP database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AnonymousFlags {
    /// Any of the below.
    pub is_anonymous: bool,
    /// A VPN provider's address.
    pub is_anonymous_vpn: bool,
    /// A hosting or VPN provider's address.
    pub is_hosting_provider: bool,
    /// A public proxy.
    pub is_public_proxy: bool,
    /// A residential proxy.
    pub is_residential_proxy: bool,
    /// A Tor exit node.
    pub is_tor_exit_node: bool,
}

/// Everything known about one address. Strings borrow from the databases.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Geo<'a> {
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<&'a str>,
    /// City name (English).
    pub city: Option<&'a str>,
    /// Latitude (degrees).
    pub latitude: Option<f64>,
    /// Longitude (degrees).
    pub longitude: Option<f64>,
    /// Autonomous system number.
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    pub as_org: Option<&'a str>,
    /// Anonymous-IP flags.
    pub anonymous: AnonymousFlags,
}

impl AnonymousFlags {
    /// The flags that are set, comma-joined (`anonymous,vpn,tor_exit`);
    /// `None` when none is.
    pub fn names(&self) -> Option<String> {
        let names: Vec<&str> = [
            (self.is_anonymous, "anonymous"),
            (self.is_anonymous_vpn, "vpn"),
            (self.is_hosting_provider, "hosting"),
            (self.is_public_proxy, "public_proxy"),
            (self.is_residential_proxy, "residential_proxy"),
            (self.is_tor_exit_node, "tor_exit"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        (!names.is_empty()).then(|| names.join(","))
    }
}

impl Geo<'_> {
    /// Nothing is known.
    pub fn is_empty(&self) -> bool {
        *self == Geo::default()
    }
}

#[derive(Deserialize)]
struct LocationRecord<'a> {
    #[serde(borrow, default)]
    country: Option<CountryRecord<'a>>,
    #[serde(borrow, default)]
    registered_country: Option<CountryRecord<'a>>,
    #[serde(borrow, default)]
    city: Option<Named<'a>>,
    #[serde(default)]
    location: Option<Coordinates>,
}

#[derive(Deserialize)]
struct CountryRecord<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Named<'a> {
    #[serde(borrow, default)]
    names: Option<EnglishName<'a>>,
}

/// Only the English name is kept; the other languages are skipped without
/// being decoded (no map is built).
#[derive(Deserialize)]
struct EnglishName<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize)]
struct Coordinates {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

#[derive(Deserialize)]
struct AsnRecord<'a> {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

/// One loaded database.
struct Db {
    reader: Reader<Vec<u8>>,
    path: PathBuf,
    kind: DbKind,
}

impl Db {
    fn lookup<'a, T: Deserialize<'a>>(&'a self, ip: IpAddr) -> Result<Option<T>, GeoError> {
        let bad =
            |e: maxminddb::MaxMindDbError| GeoError::Decode { path: self.path.clone(), ip, message: e.to_string() };
        self.reader.lookup(ip).map_err(bad)?.decode::<T>().map_err(bad)
    }
}

/// A file's identity for change detection.
type Stamp = (PathBuf, Option<SystemTime>, u64);

/// The MaxMind databases of one folder.
pub struct GeoDatabases {
    dir: PathBuf,
    location: Option<Db>,
    asn: Option<Db>,
    anonymous: Option<Db>,
    stamps: Vec<Stamp>,
}

impl std::fmt::Debug for GeoDatabases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDatabases").field("dir", &self.dir).field("loaded", &self.loaded()).finish()
    }
}

fn stamps(dir: &Path) -> Result<Vec<Stamp>, GeoError> {
    let folder = |source| GeoError::Folder { path: dir.to_path_buf(), source };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(folder)? {
        let path = entry.map_err(folder)?.path();
        if path.extension().is_some_and(|e| e == "mmdb") {
            let meta = std::fs::metadata(&path).map_err(folder)?;
            out.push((path, meta.modified().ok(), meta.len()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

impl GeoDatabases {
    /// Load every MaxMind database in `dir`. When two files hold the same
    /// kind, a commercial GeoIP2 database wins over a free GeoLite2 one, and
    /// City wins over Country; ties go to the first file name.
    pub fn open_dir(dir: impl AsRef<Path>) -> Result<GeoDatabases, GeoError> {
        let dir = dir.as_ref().to_path_buf();
        let stamps = stamps(&dir)?;
        let mut loaded: Vec<(u8, Db)> = Vec::new();
        for (path, _, _) in &stamps {
            let reader = Reader::open_readfile(path)
                .map_err(|e| GeoError::Open { path: path.clone(), message: e.to_string() })?;
            let db_type = reader.metadata.database_type.clone();
            let Some(kind) = DbKind::of(&db_type) else {
                tracing::warn!(path = %path.display(), database_type = %db_type, "not a database type we use; ignored");
                continue;
            };
            // Lower ranks win: GeoIP2 before GeoLite2.
            let rank = u8::from(!db_type.starts_with("GeoIP2"));
            loaded.push((rank, Db { reader, path: path.clone(), kind }));
        }
        loaded.sort_by_key(|(rank, db)| (db.kind, *rank));
        let mut geo = GeoDatabases { dir: dir.clone(), location: None, asn: None, anonymous: None, stamps };
        for (_, db) in loaded {
            let slot = match db.kind {
                DbKind::City | DbKind::Country => &mut geo.location,
                DbKind::Asn => &mut geo.asn,
                DbKind::AnonymousIp => &mut geo.anonymous,
            };
            if slot.is_none() {
                tracing::info!(path = %db.path.display(), kind = ?db.kind, "MaxMind database loaded");
                *slot = Some(db);
            }
        }
        if geo.location.is_none() && geo.asn.is_none() && geo.anonymous.is_none() {
            return Err(GeoError::NoDatabases(dir));
        }
        Ok(geo)
    }

    /// The folder the databases come from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The files in use and what each holds.
    pub fn loaded(&self) -> Vec<(&Path, DbKind)> {
        [&self.location, &self.asn, &self.anonymous].into_iter().flatten().map(|d| (d.path.as_path(), d.kind)).collect()
    }

    /// Reload when a file in the folder was added, removed or rewritten.
    /// Returns whether it reloaded; on an error the databases in use stay.
    pub fn reload_if_changed(&mut self) -> Result<bool, GeoError> {
        if stamps(&self.dir)? == self.stamps {
            return Ok(false);
        }
        *self = GeoDatabases::open_dir(&self.dir)?;
        Ok(true)
    }

    /// What the databases say about `ip`.
    pub fn lookup(&self, ip: IpAddr) -> Result<Geo<'_>, GeoError> {
        let mut geo = Geo::default();
        if let Some(db) = &self.location
            && let Some(r) = db.lookup::<LocationRecord>(ip)?
        {
            geo.country = r.country.and_then(|c| c.iso_code).or(r.registered_country.and_then(|c| c.iso_code));
            geo.city = r.city.and_then(|c| c.names).and_then(|n| n.en);
            if let Some(l) = r.location {
                (geo.latitude, geo.longitude) = (l.latitude, l.longitude);
            }
        }
        if let Some(db) = &self.asn
            && let Some(r) = db.lookup::<AsnRecord>(ip)?
        {
            (geo.asn, geo.as_org) = (r.autonomous_system_number, r.autonomous_system_organization);
        }
        if let Some(db) = &self.anonymous
            && let Some(flags) = db.lookup::<AnonymousFlags>(ip)?
        {
            geo.anonymous = flags;
        }
        Ok(geo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// MaxMind's test databases and the JSON they were built from.
    fn geoip_dir() -> PathBuf {
        let shared = crate::test_paths::shared_data();
        let dir = shared.join("geoip");
        assert!(
            dir.join("GeoIP2-City-Test.mmdb").is_file(),
            "MaxMind test databases not found in {}: clone the project's shared/ folder beside the repository or set \
             OPENSOC_SHARED_DATA",
            dir.display()
        );
        dir
    }

    fn expectations(json: &str) -> Vec<(IpAddr, Value)> {
        crate::source_json::networks(&geoip_dir().join(json)).unwrap()
    }

    #[test]
    fn the_folder_is_told_apart_by_database_type() {
        let geo = GeoDatabases::open_dir(geoip_dir()).unwrap();
        let loaded = geo.loaded();
        let name = |k: DbKind| {
            loaded
                .iter()
                .find(|(_, kind)| *kind == k)
                .map(|(p, _)| p.file_name().unwrap().to_str().unwrap().to_string())
        };
        // Two City databases are there: the commercial one wins.
        assert_eq!(name(DbKind::City).as_deref(), Some("GeoIP2-City-Test.mmdb"), "{loaded:?}");
        assert_eq!(name(DbKind::Asn).as_deref(), Some("GeoLite2-ASN-Test.mmdb"));
        assert_eq!(name(DbKind::AnonymousIp).as_deref(), Some("GeoIP2-Anonymous-IP-Test.mmdb"));
    }

    #[test]
    fn countries_cities_and_coordinates_match_the_source_json() {
        let geo = GeoDatabases::open_dir(geoip_dir()).unwrap();
        let cases = expectations("GeoIP2-City-Test.json");
        assert!(cases.len() > 200, "{}", cases.len());
        let mut with_country = 0;
        for (ip, want) in &cases {
            let got = geo.lookup(*ip).unwrap();
            let country = want["country"]["iso_code"].as_str().or(want["registered_country"]["iso_code"].as_str());
            assert_eq!(got.country, country, "{ip}: {want}");
            assert_eq!(got.city, want["city"]["names"]["en"].as_str(), "{ip}");
            assert_eq!(got.latitude, want["location"]["latitude"].as_f64(), "{ip}");
            assert_eq!(got.longitude, want["location"]["longitude"].as_f64(), "{ip}");
            with_country += usize::from(country.is_some());
        }
        assert!(with_country > 100, "{with_country}");
    }

    #[test]
    fn asns_and_anonymous_flags_match_the_source_json() {
        let geo = GeoDatabases::open_dir(geoip_dir()).unwrap();
        let cases = expectations("GeoLite2-ASN-Test.json");
        assert!(cases.len() > 500);
        for (ip, want) in &cases {
            let got = geo.lookup(*ip).unwrap();
            assert_eq!(got.asn.map(u64::from), want["autonomous_system_number"].as_u64(), "{ip}");
            assert_eq!(got.as_org, want["autonomous_system_organization"].as_str(), "{ip}");
        }
        let cases = expectations("GeoIP2-Anonymous-IP-Test.json");
        assert!(cases.len() >= 10);
        for (ip, want) in &cases {
            let flags = geo.lookup(*ip).unwrap().anonymous;
            let flag = |k: &str| want[k].as_bool().unwrap_or(false);
            assert_eq!(flags.is_anonymous, flag("is_anonymous"), "{ip}");
            assert_eq!(flags.is_anonymous_vpn, flag("is_anonymous_vpn"), "{ip}");
            assert_eq!(flags.is_hosting_provider, flag("is_hosting_provider"), "{ip}");
            assert_eq!(flags.is_public_proxy, flag("is_public_proxy"), "{ip}");
            assert_eq!(flags.is_residential_proxy, flag("is_residential_proxy"), "{ip}");
            assert_eq!(flags.is_tor_exit_node, flag("is_tor_exit_node"), "{ip}");
        }
        // Private space is in none of them.
        assert!(geo.lookup("10.1.2.3".parse().unwrap()).unwrap().is_empty());
    }

    #[test]
    fn missing_empty_and_corrupt_folders_are_clear_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        assert!(matches!(GeoDatabases::open_dir(&missing), Err(GeoError::Folder { .. })));
        assert!(matches!(GeoDatabases::open_dir(tmp.path()), Err(GeoError::NoDatabases(_))));
        let bad = tmp.path().join("GeoLite2-City.mmdb");
        std::fs::write(&bad, b"this is not a MaxMind database").unwrap();
        let err = GeoDatabases::open_dir(tmp.path()).unwrap_err();
        assert!(matches!(&err, GeoError::Open { path, .. } if path == &bad), "{err}");
        assert!(err.to_string().contains("GeoLite2-City.mmdb"), "{err}");
        // A database cut short.
        let full = std::fs::read(geoip_dir().join("GeoLite2-ASN-Test.mmdb")).unwrap();
        std::fs::write(&bad, &full[..full.len() / 2]).unwrap();
        assert!(matches!(GeoDatabases::open_dir(tmp.path()), Err(GeoError::Open { .. })));
    }

    #[test]
    fn a_new_release_of_a_file_is_picked_up() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(geoip_dir().join("GeoIP2-Country-Test.mmdb"), tmp.path().join("country.mmdb")).unwrap();
        let mut geo = GeoDatabases::open_dir(tmp.path()).unwrap();
        let ip: IpAddr = "1.128.0.0".parse().unwrap();
        assert_eq!(geo.lookup(ip).unwrap().asn, None);
        assert!(!geo.reload_if_changed().unwrap(), "nothing changed");
        std::fs::copy(geoip_dir().join("GeoLite2-ASN-Test.mmdb"), tmp.path().join("asn.mmdb")).unwrap();
        assert!(geo.reload_if_changed().unwrap());
        assert_eq!(geo.lookup(ip).unwrap().asn, Some(1221));
        // A broken release keeps the databases in use.
        std::fs::write(tmp.path().join("asn.mmdb"), b"broken").unwrap();
        assert!(geo.reload_if_changed().is_err());
        assert_eq!(geo.lookup(ip).unwrap().asn, Some(1221));
    }
}
