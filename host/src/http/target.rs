//! Which object an admin path names: `objects/{binding}/{name}` or `ids/{binding}/{id}`.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::error;
use super::state::AppState;
use crate::id::ObjectId;
use crate::runtime::Class;
use crate::store::ObjectKey;

/// The `{kind}/{binding}/{object}` segments of an object's admin path.
pub type ObjectPath = Path<(String, String, String)>;

/// The object an admin path names.
pub struct Target {
    pub class: Arc<Class>,
    pub binding: String,
    pub id: ObjectId,
    /// The name it was addressed by (`objects/...`), if any.
    pub name: Option<String>,
    pub key: ObjectKey,
}

/// The class and ID an admin path names (`objects/{binding}/{name}` or `ids/{binding}/{id}`).
pub fn resolve(
    st: &AppState,
    kind: &str,
    binding: &str,
    object: &str,
) -> Result<(Arc<Class>, ObjectId, Option<String>), Box<Response>> {
    let class = st.directory.class(binding).ok_or_else(|| {
        Box::new(error(
            StatusCode::NOT_FOUND,
            format!("no binding named `{binding}`"),
        ))
    })?;
    let namespaces = &st.directory.services().namespaces;
    match kind {
        "objects" => {
            let key = namespaces
                .key(binding)
                .map_err(|e| Box::new(error(StatusCode::NOT_FOUND, e.to_string())))?;
            Ok((class, key.id_from_name(object), Some(object.to_owned())))
        }
        "ids" => {
            let id = namespaces
                .parse(binding, object)
                .map_err(|e| Box::new(error(StatusCode::BAD_REQUEST, e.to_string())))?;
            Ok((class, id, None))
        }
        _ => Err(Box::new(error(
            StatusCode::NOT_FOUND,
            "no admin route: use /_/admin/objects/{binding}/{name}/... or /_/admin/ids/{binding}/{id}/...",
        ))),
    }
}

/// [`resolve`], with the object's storage key.
pub fn target(
    st: &AppState,
    kind: &str,
    binding: &str,
    object: &str,
) -> Result<Target, Box<Response>> {
    let (class, id, name) = resolve(st, kind, binding, object)?;
    let key = class.key(&id);
    Ok(Target {
        class,
        binding: binding.to_owned(),
        id,
        name,
        key,
    })
}
