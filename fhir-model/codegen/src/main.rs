//! Generator of `ehrkit-fhir-model` from the FHIR R4 (4.0.1) definitions.
//!
//! Usage: `ehrkit-fhir-codegen --package DIR --out DIR`
//!
//! `--package` is the unpacked `hl7.fhir.r4.examples@4.0.1` npm package
//! (its `package/` directory); `--out` is `fhir-model/src/generated`.
//! Output is deterministic and formatted with `rustfmt`.
//!
//! The stages, one module each: [`spec`] reads the package, [`model`] builds
//! the structs of each definition (with [`codes`] collecting the enums of
//! required bindings), [`emit`] writes them as Rust, [`names`] holds the
//! naming rules and [`fixups`] the named workarounds for the specification.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser as _;

mod codes;
mod emit;
mod fixups;
mod model;
mod names;
mod spec;

use codes::CodeEnums;
use emit::ResourceModule;
use model::{Builder, Struct};
use names::feature_name;
use spec::{backbone_names, category, module_feature, s, Package};

/// Generates the typed FHIR R4 model of ehrkit-fhir-model.
#[derive(clap::Parser)]
#[command(name = "ehrkit-fhir-codegen")]
struct Args {
    /// The unpacked hl7.fhir.r4.examples@4.0.1 npm package (its `package/` directory).
    #[arg(long, value_name = "DIR")]
    package: PathBuf,
    /// Where to write the generated files (fhir-model/src/generated).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Hand-written types of the crate that code enums must not be named after.
const HAND_WRITTEN_TYPES: &[&str] = &[
    "Resource",
    "Primitive",
    "Decimal",
    "Date",
    "DateTime",
    "Instant",
    "Time",
    "Unknown",
    "ElementExt",
];

fn main() -> ExitCode {
    let args = Args::parse();
    let pkg = Package::load(&args.package);
    let complex = pkg
        .datatypes
        .iter()
        .map(|sd| s(sd, "type").to_owned())
        .collect();
    let mut builder = Builder::new(complex, CodeEnums::new(&pkg, reserved_names(&pkg)));
    let mut out = Output::create(&args.out);

    // Datatypes first, then resources in name order: code enums are named in
    // the order they are met.
    let datatypes: Vec<Vec<Struct>> = pkg
        .datatypes
        .iter()
        .map(|sd| builder.structs(sd, false, ""))
        .collect();
    out.rust("types.rs", &emit::types_file(&datatypes));

    let mut modules = Vec::new();
    for sd in &pkg.resources {
        let name = s(sd, "type");
        let feature = feature_name(name);
        let structs = builder.structs(sd, true, &feature);
        out.rust(
            &format!("resources/{feature}.rs"),
            &emit::resource_file(name, &structs),
        );
        modules.push(ResourceModule {
            name: name.to_owned(),
            feature,
            group: module_feature(&category(sd)),
        });
    }
    out.rust("resources/mod.rs", &emit::resources_mod_file(&modules));
    out.rust("resource.rs", &emit::resource_enum_file(&modules));
    out.rust("codes.rs", &emit::codes_file(&builder.codes));
    out.plain("features.toml", &emit::features_toml(&modules));

    if let Err(e) = out.rustfmt() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "generated {} datatypes, {} resources, {} code enums into {}",
        datatypes.len(),
        modules.len(),
        builder.codes.enums.len(),
        args.out.display()
    );
    ExitCode::SUCCESS
}

/// Names of every generated struct and of the hand-written types, which code
/// enums avoid.
fn reserved_names(pkg: &Package) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for sd in pkg.datatypes.iter().chain(&pkg.resources) {
        names.insert(s(sd, "type").to_owned());
        names.extend(backbone_names(sd).into_values());
    }
    names.extend(HAND_WRITTEN_TYPES.iter().map(|n| (*n).to_owned()));
    names
}

/// The output directory and the Rust files written into it.
struct Output {
    dir: PathBuf,
    rust: Vec<PathBuf>,
}

impl Output {
    fn create(dir: &Path) -> Output {
        std::fs::create_dir_all(dir.join("resources"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        Output {
            dir: dir.to_owned(),
            rust: Vec::new(),
        }
    }

    /// Writes a Rust file (formatted by [`Output::rustfmt`]).
    fn rust(&mut self, rel: &str, text: &str) {
        let p = self.plain(rel, text);
        self.rust.push(p);
    }

    /// Writes a file as it is.
    fn plain(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.dir.join(rel);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        p
    }

    /// Formats the Rust files.
    fn rustfmt(&self) -> Result<(), String> {
        let status = std::process::Command::new("rustfmt")
            .arg("--edition")
            .arg("2021")
            .args(&self.rust)
            .status();
        match status {
            Ok(s) if s.success() => Ok(()),
            other => Err(format!("rustfmt failed: {other:?}")),
        }
    }
}
