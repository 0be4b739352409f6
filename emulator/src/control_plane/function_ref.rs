//! How a Lambda API request names the function (`FunctionName`: a name, a partial or full ARN,
//! each optionally with a `:qualifier`; or the `?Qualifier=` parameter), which of the sandbox's
//! functions it is, and Lambda's 404s when it names no function or a version that does not
//! exist.

use serde::Deserialize;

use super::api_error::ApiError;
use super::configuration::function_arn;
use super::plane::ControlPlane;

/// The `?Qualifier=` of Invoke and GetFunctionConfiguration.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct QualifierQuery {
    #[serde(rename = "Qualifier")]
    pub(crate) qualifier: Option<String>,
}

/// Accepts what Lambda accepts as `FunctionName`: a name, a partial ARN (`123:function:name`) or
/// a full ARN, each optionally with a `:qualifier`. Returns the bare name.
pub(crate) fn function_name_from(reference: &str) -> &str {
    let parts: Vec<&str> = reference.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", name, ..] => name,
        [_, "function", name, ..] => name,
        [name, ..] => name,
        [] => reference,
    }
}

/// Splits `FunctionName` into the name and the qualifier it may carry (`clock:1`, an ARN with
/// `:1`); a `Qualifier` query parameter must agree with it, as on Lambda.
pub(crate) fn qualifier_of(
    reference: &str,
    query: Option<&str>,
) -> Result<Option<String>, ApiError> {
    let parts: Vec<&str> = reference.split(':').collect();
    let in_name = match parts.as_slice() {
        ["arn", _, "lambda", _, _, "function", _, q] => Some(*q),
        [_, "function", _, q] => Some(*q),
        [_, q] => Some(*q),
        _ => None,
    };
    match (in_name, query) {
        (Some(a), Some(b)) if a != b => Err(ApiError::invalid_parameter(
            "The derived qualifier from the function name does not match the specified qualifier.",
        )),
        (Some(q), _) | (None, Some(q)) => Ok(Some(q.to_owned())),
        (None, None) => Ok(None),
    }
}

/// The function `reference` names: the sandbox's own, or one created through `CreateFunction`
/// (Lambda's 404 for any other).
pub(crate) fn function_plane(
    plane: &ControlPlane,
    reference: &str,
) -> Result<ControlPlane, ApiError> {
    let name = function_name_from(reference);
    plane.named(name).ok_or_else(|| {
        ApiError::not_found(format!(
            "Function not found: {}",
            function_arn(&plane.options().region, name)
        ))
    })
}

/// The 404 Lambda answers for a version that does not exist.
pub(crate) fn version_not_found(plane: &ControlPlane, qualifier: &str) -> ApiError {
    let function = plane.function();
    ApiError::not_found(format!(
        "Function not found: {}:{qualifier}",
        function_arn(&plane.options().region, &function.config.function_name)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_arns_and_qualifiers() {
        assert_eq!(function_name_from("clock"), "clock");
        assert_eq!(function_name_from("clock:$LATEST"), "clock");
        assert_eq!(function_name_from("123456789012:function:clock"), "clock");
        assert_eq!(
            function_name_from("arn:aws:lambda:us-east-1:123456789012:function:clock:1"),
            "clock"
        );
    }

    #[test]
    fn qualifiers_from_names_arns_and_the_query() {
        assert_eq!(qualifier_of("clock", None).unwrap(), None);
        assert_eq!(qualifier_of("clock:1", None).unwrap().as_deref(), Some("1"));
        assert_eq!(
            qualifier_of(
                "arn:aws:lambda:us-east-1:123456789012:function:clock:$LATEST",
                None
            )
            .unwrap()
            .as_deref(),
            Some("$LATEST")
        );
        assert_eq!(
            qualifier_of("123456789012:function:clock", Some("2"))
                .unwrap()
                .as_deref(),
            Some("2")
        );
        assert!(qualifier_of("clock:1", Some("2")).is_err());
        assert_eq!(
            qualifier_of("clock:1", Some("1")).unwrap().as_deref(),
            Some("1")
        );
    }
}
