//! The `causes` script's requests, over HTTP to the sandbox's Lambda API exactly as the AWS CLI
//! sends them: Invoke (`?Qualifier=`, `X-Amz-Tenant-Id`), PublishVersion, GetFunctionConfiguration
//! and CreateFunction (with the deployment package zipped as `--zip-file fileb://` sends it).

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use base64::Engine;

use lambda_emulator::control_plane::configuration::FunctionConfiguration;

use crate::lambda_client;

/// One invoke as the script saw it.
pub(super) struct Answer {
    /// `x-amzn-RequestId` (none when the invoke was refused before it ran).
    pub(super) request_id: Option<String>,
    /// `ok`, the `X-Amz-Function-Error` kind, or the error code of a refused invoke.
    pub(super) outcome: String,
}

/// Where the script sends its requests.
#[derive(Clone)]
pub(super) struct Api {
    pub(super) client: reqwest::Client,
    /// The Lambda API's base URL.
    pub(super) base: String,
}

impl Api {
    fn function_url(&self, function: &str, path: &str) -> String {
        format!("{}/2015-03-31/functions/{function}{path}", self.base)
    }

    /// Invoke (RequestResponse) of `function`'s `version` for `tenant`. A refused invoke (4xx)
    /// is an answer too, its error code the outcome, when `refusal_expected`; else an error.
    pub(super) async fn invoke(
        &self,
        function: &str,
        version: &str,
        tenant: Option<&str>,
        payload: serde_json::Value,
        refusal_expected: bool,
    ) -> anyhow::Result<Answer> {
        let mut request = self
            .client
            .post(self.function_url(function, "/invocations"))
            .query(&[("Qualifier", version)])
            .json(&payload);
        if let Some(tenant) = tenant {
            request = request.header("X-Amz-Tenant-Id", tenant);
        }
        let response = request.send().await.context("Invoke")?;
        let status = response.status();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if status.is_client_error() && refusal_expected {
            let code = header("x-amzn-ErrorType").unwrap_or_else(|| status.to_string());
            return Ok(Answer {
                request_id: None,
                outcome: code,
            });
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!("Invoke of {function} version {version} answered {status}: {body}");
        }
        let request_id = header("x-amzn-RequestId").context("Invoke answered no request id")?;
        let outcome = header("X-Amz-Function-Error").unwrap_or_else(|| "ok".into());
        Ok(Answer {
            request_id: Some(request_id),
            outcome,
        })
    }

    /// PublishVersion; returns the new version's number.
    pub(super) async fn publish_version(&self, function: &str) -> anyhow::Result<String> {
        let answer: serde_json::Value = self
            .client
            .post(self.function_url(function, "/versions"))
            .json(&serde_json::json!({}))
            .send()
            .await
            .context("PublishVersion")?
            .error_for_status()
            .context("PublishVersion")?
            .json()
            .await
            .context("reading PublishVersion's answer")?;
        answer["Version"]
            .as_str()
            .map(str::to_owned)
            .context("PublishVersion answered no Version")
    }

    /// GetFunctionConfiguration of `function` (`$LATEST`).
    pub(super) async fn configuration(
        &self,
        function: &str,
    ) -> anyhow::Result<FunctionConfiguration> {
        lambda_client::get_configuration(&self.client, &self.base, function).await
    }

    /// CreateFunction with `request` (Lambda's JSON body); the new function's configuration.
    pub(super) async fn create_function(
        &self,
        request: &serde_json::Value,
    ) -> anyhow::Result<FunctionConfiguration> {
        let response = self
            .client
            .post(format!("{}/2015-03-31/functions", self.base))
            .json(request)
            .send()
            .await
            .context("CreateFunction")?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!("CreateFunction answered {status}: {body}");
        }
        response
            .json()
            .await
            .context("reading CreateFunction's answer")
    }
}

/// A deployment package holding `bootstrap` (executable), base64-encoded as `Code.ZipFile`.
pub(super) fn deployment_package(bootstrap: &Path) -> anyhow::Result<String> {
    let code = std::fs::read(bootstrap)
        .with_context(|| format!("reading the function {}", bootstrap.display()))?;
    let mut zip = Vec::new();
    {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(&mut zip));
        let options = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        writer
            .start_file("bootstrap", options)
            .context("zipping the function")?;
        writer.write_all(&code).context("zipping the function")?;
        writer.finish().context("zipping the function")?;
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(zip))
}

/// Waits for every request of a burst.
pub(super) async fn join_all(
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Answer>>>,
) -> anyhow::Result<Vec<Answer>> {
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.context("a request of the burst")??);
    }
    Ok(answers)
}
