//! The WIT's public surface against its committed snapshot, `wit/surface-0.2.txt`.
//!
//! From `wxpay:coupon@0.2.0` on, changes are additive (`docs/versioning.md`): a new function, a
//! new type, a new interface or world export — never a changed or removed one. The surface is
//! one line per item (a type with its whole shape, a function with its signature, a world's
//! import or export); every line of the snapshot must still be there, and every new line must
//! be added to the snapshot in the same change, so that each addition is reviewed.

use std::collections::BTreeSet;
use std::path::Path;

use wit_parser::{Resolve, Type, TypeDefKind, TypeOwner, WorldItem};

fn ty(resolve: &Resolve, t: &Type) -> String {
    match t {
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::S8 => "s8".into(),
        Type::S16 => "s16".into(),
        Type::S32 => "s32".into(),
        Type::S64 => "s64".into(),
        Type::F32 => "f32".into(),
        Type::F64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => "error-context".into(),
        Type::Id(id) => {
            let def = &resolve.types[*id];
            if let Some(name) = &def.name {
                return name.clone();
            }
            shape(resolve, &def.kind)
        }
    }
}

fn opt(resolve: &Resolve, t: &Option<Type>) -> String {
    t.as_ref().map_or("_".into(), |t| ty(resolve, t))
}

/// A type's whole structure: records with every field, variants with every case.
fn shape(resolve: &Resolve, kind: &TypeDefKind) -> String {
    match kind {
        TypeDefKind::Record(r) => format!(
            "record {{ {} }}",
            r.fields
                .iter()
                .map(|f| format!("{}: {}", f.name, ty(resolve, &f.ty)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Variant(v) => format!(
            "variant {{ {} }}",
            v.cases
                .iter()
                .map(|c| match &c.ty {
                    Some(t) => format!("{}({})", c.name, ty(resolve, t)),
                    None => c.name.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Enum(e) => format!(
            "enum {{ {} }}",
            e.cases
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Flags(f) => format!(
            "flags {{ {} }}",
            f.flags
                .iter()
                .map(|c| c.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Tuple(t) => format!(
            "tuple<{}>",
            t.types
                .iter()
                .map(|t| ty(resolve, t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Option(t) => format!("option<{}>", ty(resolve, t)),
        TypeDefKind::Result(r) => {
            format!("result<{}, {}>", opt(resolve, &r.ok), opt(resolve, &r.err))
        }
        TypeDefKind::List(t) => format!("list<{}>", ty(resolve, t)),
        TypeDefKind::Type(t) => ty(resolve, t),
        // By the resource's name: arena ids shift whenever a type is added.
        TypeDefKind::Handle(wit_parser::Handle::Own(id)) => {
            format!("own<{}>", ty(resolve, &Type::Id(*id)))
        }
        TypeDefKind::Handle(wit_parser::Handle::Borrow(id)) => {
            format!("borrow<{}>", ty(resolve, &Type::Id(*id)))
        }
        TypeDefKind::Resource => "resource".into(),
        other => format!("{other:?}"),
    }
}

/// Every item of the `wxpay:coupon` package, one line each.
fn surface() -> BTreeSet<String> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit"))
        .expect("the WIT parses");
    let name = resolve.packages[package].name.to_string();
    let mut lines = BTreeSet::new();
    for (iface_name, iface_id) in &resolve.packages[package].interfaces {
        let iface = &resolve.interfaces[*iface_id];
        for (type_name, type_id) in &iface.types {
            let def = &resolve.types[*type_id];
            let body = match (&def.kind, def.owner) {
                // `use`d from another interface: the line says where it comes from.
                (TypeDefKind::Type(Type::Id(source)), TypeOwner::Interface(_)) => {
                    match resolve.types[*source].owner {
                        TypeOwner::Interface(owner) if owner != *iface_id => format!(
                            "use {}.{}",
                            resolve.interfaces[owner].name.as_deref().unwrap_or("?"),
                            resolve.types[*source].name.as_deref().unwrap_or("?")
                        ),
                        _ => shape(&resolve, &def.kind),
                    }
                }
                (kind, _) => shape(&resolve, kind),
            };
            lines.insert(format!("{name} {iface_name} type {type_name}: {body}"));
        }
        for (func_name, func) in &iface.functions {
            let params = func
                .params
                .iter()
                .map(|p| format!("{}: {}", p.name, ty(&resolve, &p.ty)))
                .collect::<Vec<_>>()
                .join(", ");
            let result = func
                .result
                .as_ref()
                .map_or(String::new(), |t| format!(" -> {}", ty(&resolve, t)));
            lines.insert(format!(
                "{name} {iface_name} func {func_name}: func({params}){result}"
            ));
        }
    }
    for (world_name, world_id) in &resolve.packages[package].worlds {
        let world = &resolve.worlds[*world_id];
        for (direction, items) in [("import", &world.imports), ("export", &world.exports)] {
            for (key, item) in items {
                if let WorldItem::Interface { .. } = item {
                    lines.insert(format!(
                        "{name} world {world_name} {direction} {}",
                        resolve.name_world_key(key)
                    ));
                }
            }
        }
    }
    lines
}

#[test]
fn the_wit_surface_only_grows() {
    let snapshot_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/surface-0.2.txt");
    let current = surface();
    if std::env::var_os("WXCOUPON_WRITE_WIT_SURFACE").is_some() {
        let text: String = current.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&snapshot_path, text).unwrap();
    }
    let snapshot: BTreeSet<String> = std::fs::read_to_string(&snapshot_path)
        .expect("wit/surface-0.2.txt")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let removed: Vec<_> = snapshot.difference(&current).collect();
    let added: Vec<_> = current.difference(&snapshot).collect();
    assert!(
        removed.is_empty(),
        "breaking change to the published WIT surface (changed or removed; from 0.2.0 on only \
         additions are allowed, docs/versioning.md):\n{}",
        removed
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        added.is_empty(),
        "new WIT items: review them and add them to wit/surface-0.2.txt (run with \
         WXCOUPON_WRITE_WIT_SURFACE=1):\n{}",
        added
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        current.iter().all(|l| l.starts_with("wxpay:coupon@0.2.")),
        "the package stays wxpay:coupon@0.2.x"
    );
}
