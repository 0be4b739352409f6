//! The Lambda Telemetry API (2022-07-01, records in schema 2022-12-13), its HTTP side: an
//! extension subscribes during init with the record types it wants, a buffering policy and an
//! HTTP destination (the body is `lambda_wire`'s [`Subscription`]); the sandbox checks it as
//! Lambda does and hands it to the delivery in `telemetry.rs`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::Router;
use bytes::Bytes;
use chrono::Utc;
use lambda_wire::telemetry::{
    Buffering, RecordBody, Subscription, TelemetrySubscription, SUBSCRIBE_PATH,
};

use super::http::{api_error, extension_id, missing_id, refuse};
use super::rules::Refusal;
use super::shared::Shared;
use super::telemetry::Kind;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(SUBSCRIBE_PATH, put(subscribe))
        .route(&format!("{SUBSCRIBE_PATH}/"), put(subscribe))
}

const SCHEMA_VERSIONS: [&str; 3] = ["2022-07-01", "2022-12-13", "2025-01-29"];
/// The one schema Lambda Managed Instances accept (AWS's Telemetry API reference; the
/// subscription schema of AWS's emulator for Managed Instances lists only it).
const MANAGED_INSTANCES_SCHEMA: &str = "2025-01-29";
/// What Lambda answers to an invalid subscription (HTTP 400).
const VALIDATION_ERROR: &str = "ValidationError";

/// The buffering asked for, refused (as Lambda does) when a limit is outside the documented
/// bounds.
fn within_bounds(asked: Buffering) -> Result<Buffering, String> {
    let check = |name: &str, value: u64, min: u64, max: u64| {
        if value < min || value > max {
            Err(format!(
                "buffering.{name} must be between {min} and {max}, got {value}"
            ))
        } else {
            Ok(value)
        }
    };
    Ok(Buffering {
        max_items: check("maxItems", asked.max_items, 1_000, 10_000)?,
        max_bytes: check("maxBytes", asked.max_bytes, 262_144, 1_048_576)?,
        timeout_ms: check("timeoutMs", asked.timeout_ms, 25, 30_000)?,
    })
}

/// Parses and checks a subscription the way Lambda does: known schema (`2025-01-29` only on
/// Managed Instances, `managed`), known types, buffering within bounds, an HTTP destination on
/// the sandbox itself (`sandbox.localdomain`, which resolves to loopback — nothing ever leaves
/// the machine).
fn validate(
    req: &Subscription,
    managed: bool,
) -> Result<(Vec<Kind>, Buffering, http::Uri), String> {
    if managed && req.schema_version != MANAGED_INSTANCES_SCHEMA {
        return Err(format!(
            "schemaVersion {:?} is not supported on Lambda Managed Instances: use {MANAGED_INSTANCES_SCHEMA:?}",
            req.schema_version
        ));
    }
    if !SCHEMA_VERSIONS.contains(&req.schema_version.as_str()) {
        return Err(format!(
            "unsupported schemaVersion {:?}",
            req.schema_version
        ));
    }
    if req.types.is_empty() {
        return Err("types must name at least one of platform, function, extension".into());
    }
    let mut kinds = Vec::new();
    for name in &req.types {
        let kind = Kind::parse(name).ok_or_else(|| format!("unknown type {name:?}"))?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    let buffering = within_bounds(req.buffering.unwrap_or(Buffering::DEFAULT))?;
    if req.destination.protocol != "HTTP" {
        return Err(format!(
            "destination.protocol {:?} is not supported here (HTTP only)",
            req.destination.protocol
        ));
    }
    let uri: http::Uri = req
        .destination
        .uri
        .parse()
        .map_err(|err| format!("destination.URI is not a URI: {err}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("destination.URI must be http://".into());
    }
    let host = uri.host().unwrap_or_default();
    if !["sandbox.localdomain", "localhost", "127.0.0.1"].contains(&host) {
        return Err(format!(
            "destination host {host:?} must be sandbox.localdomain (the execution environment)"
        ));
    }
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let target = format!("http://127.0.0.1:{port}{path}")
        .parse()
        .map_err(|err| format!("destination.URI: {err}"))?;
    Ok((kinds, buffering, target))
}

async fn subscribe(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(id) = extension_id(&headers) else {
        return missing_id();
    };
    let Some(name) = shared.extension_name(id) else {
        return refuse(Refusal::unknown_extension());
    };
    let request: Subscription = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return api_error(StatusCode::BAD_REQUEST, VALIDATION_ERROR, &err.to_string());
        }
    };
    let (kinds, buffering, target) = match validate(&request, shared.options.managed_instances()) {
        Ok(parts) => parts,
        Err(message) => return api_error(StatusCode::BAD_REQUEST, VALIDATION_ERROR, &message),
    };
    if !shared.telemetry.accepting_subscriptions() {
        return api_error(
            StatusCode::FORBIDDEN,
            "Telemetry.SubscriptionClosed",
            "subscriptions are only accepted during the init phase",
        );
    }
    tracing::debug!(extension = %name, ?buffering, %target, "telemetry subscription");
    shared
        .telemetry
        .subscribe(id, &name, kinds, buffering, target);
    shared.telemetry.emit(
        Utc::now(),
        RecordBody::TelemetrySubscription(TelemetrySubscription {
            name,
            state: "Subscribed".into(),
            types: request.types,
        }),
    );
    (StatusCode::OK, "OK").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> Subscription {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn buffering_defaults_and_bounds() {
        let ok = request(serde_json::json!({
            "schemaVersion": "2022-12-13", "types": ["platform"],
            "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/t"}
        }));
        let (kinds, buffering, target) = validate(&ok, false).unwrap();
        assert_eq!(kinds, vec![Kind::Platform]);
        assert_eq!(buffering.max_items, 10_000);
        assert_eq!(target.to_string(), "http://127.0.0.1:4243/t");

        for (field, value) in [
            ("maxItems", 999),
            ("maxBytes", 2_000_000),
            ("timeoutMs", 10),
        ] {
            let bad = request(serde_json::json!({
                "schemaVersion": "2022-12-13", "types": ["platform"],
                "buffering": {field: value},
                "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243"}
            }));
            let err = validate(&bad, false).unwrap_err();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn destination_must_be_the_sandbox() {
        let bad = request(serde_json::json!({
            "schemaVersion": "2022-12-13", "types": ["platform"],
            "destination": {"protocol": "HTTP", "URI": "http://example.com:80/"}
        }));
        assert!(validate(&bad, false).is_err());
    }

    #[test]
    fn managed_instances_take_schema_2025_01_29_only() {
        let with = |schema: &str| {
            request(serde_json::json!({
                "schemaVersion": schema, "types": ["platform"],
                "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/t"}
            }))
        };
        assert!(validate(&with("2025-01-29"), true).is_ok());
        let err = validate(&with("2022-12-13"), true).unwrap_err();
        assert!(err.contains("2025-01-29"), "{err}");
        // Elsewhere every published schema is accepted.
        assert!(validate(&with("2022-12-13"), false).is_ok());
        assert!(validate(&with("2025-01-29"), false).is_ok());
    }
}
