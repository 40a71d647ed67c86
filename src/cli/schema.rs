//! `opensoc schema`: the columns of the lake's tables, for people writing
//! SQL and for the Glue catalog of the Terraform module.

use anyhow::Context;
use clap::ValueEnum;
use comfy_table::Table as TextTable;
use opensoc_schemas::Table;
use opensoc_schemas::catalog::CatalogTable;
use serde_json::json;

use super::exit;

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Tables to show (default: all).
    pub tables: Vec<String>,
    /// `table`: columns and types per table; `json`: the same as one JSON
    /// document; `glue`: the Glue catalog document the Terraform module reads
    /// (`opensoc schema --format glue > infra/modules/opensoc/tables.json`).
    #[arg(long, value_enum, default_value = "table")]
    pub format: SchemaFormat,
}

/// How `opensoc schema` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaFormat {
    /// Aligned text, one table per table.
    Table,
    /// One JSON document: table → columns with Arrow and Hive types.
    Json,
    /// The Terraform module's tables.json (Glue columns and partition keys).
    Glue,
}

pub fn run(args: SchemaArgs) -> anyhow::Result<u8> {
    let tables: Vec<Table> = if args.tables.is_empty() {
        Table::ALL.to_vec()
    } else {
        let mut out = Vec::new();
        for name in &args.tables {
            match Table::from_name(name) {
                Some(t) => out.push(t),
                None => {
                    let known: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
                    eprintln!("error: no table {name:?} (tables: {})", known.join(", "));
                    return Ok(exit::USAGE);
                }
            }
        }
        out
    };
    let catalogs: Vec<CatalogTable> =
        tables.iter().map(|t| t.catalog()).collect::<Result<_, _>>().context("mapping the schemas to Hive types")?;
    match args.format {
        SchemaFormat::Table => {
            for (t, c) in tables.iter().zip(&catalogs) {
                println!("{} — {}", c.name, c.description);
                let mut text = TextTable::new();
                text.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
                text.set_header(["column", "type", "nullable"]);
                for field in t.schema().fields() {
                    let hive = opensoc_schemas::catalog::hive_type(field.data_type()).unwrap_or_default();
                    let partition = if field.name() == opensoc_schemas::PARTITION_COLUMN { " (partition)" } else { "" };
                    text.add_row([
                        format!("{}{partition}", field.name()),
                        hive,
                        if field.is_nullable() { "yes" } else { "no" }.to_string(),
                    ]);
                }
                println!("{text}\n");
            }
        }
        SchemaFormat::Json => {
            let doc: serde_json::Map<String, serde_json::Value> = tables
                .iter()
                .map(|t| {
                    let cols: Vec<_> = t
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| {
                            json!({
                                "name": f.name(),
                                "arrow_type": f.data_type().to_string(),
                                "hive_type": opensoc_schemas::catalog::hive_type(f.data_type()),
                                "nullable": f.is_nullable(),
                                "partition": f.name() == opensoc_schemas::PARTITION_COLUMN,
                            })
                        })
                        .collect();
                    (t.name().to_string(), json!({"description": t.description(), "columns": cols}))
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        SchemaFormat::Glue => println!("{}", glue_document(&catalogs)),
    }
    Ok(exit::OK)
}

/// The Terraform module's tables.json: stable order, pretty-printed, so the
/// committed file diffs cleanly when a schema changes.
fn glue_document(catalogs: &[CatalogTable]) -> String {
    let col = |c: &opensoc_schemas::catalog::CatalogColumn| json!({"name": c.name, "type": c.hive_type});
    let tables: serde_json::Map<String, serde_json::Value> = catalogs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                json!({
                    "description": c.description,
                    "columns": c.columns.iter().map(col).collect::<Vec<_>>(),
                    "partition_keys": c.partition_keys.iter().map(col).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();
    let doc = json!({
        "generated_by": "opensoc schema --format glue (do not edit: the test script checks it against the schemas crate)",
        "tables": tables,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
