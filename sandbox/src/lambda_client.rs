//! The front-ends' calls to the Lambda API over HTTP, made as the AWS CLI makes them, so that
//! the experiment and the `causes` script change a function the way a user would.

use std::time::Duration;

use anyhow::Context;

use lambda_emulator::control_plane::configuration::{
    EnvironmentRequest, FunctionConfiguration, UpdateFunctionConfigurationRequest,
};

/// GetFunctionConfiguration of `function_name` (`$LATEST`) over HTTP, as `aws lambda
/// get-function-configuration` does it; an error answer is an error.
pub async fn get_configuration(
    client: &reqwest::Client,
    lambda_api: &str,
    function_name: &str,
) -> anyhow::Result<FunctionConfiguration> {
    client
        .get(configuration_url(lambda_api, function_name))
        .send()
        .await
        .context("GetFunctionConfiguration")?
        .error_for_status()
        .context("GetFunctionConfiguration")?
        .json()
        .await
        .context("reading GetFunctionConfiguration's answer")
}

fn configuration_url(lambda_api: &str, function_name: &str) -> String {
    format!("{lambda_api}/2015-03-31/functions/{function_name}/configuration")
}

/// UpdateFunctionConfiguration over HTTP, as `aws lambda update-function-configuration
/// --environment Variables={USER=user2}` does it: read the variables, change one, send them all.
pub async fn set_variable(
    client: &reqwest::Client,
    lambda_api: &str,
    function_name: &str,
    name: &str,
    value: &str,
) -> anyhow::Result<(Option<String>, FunctionConfiguration)> {
    let url = configuration_url(lambda_api, function_name);
    let current = get_configuration(client, lambda_api, function_name).await?;
    let mut variables = current.environment.variables.clone();
    let previous = variables.insert(name.to_owned(), value.to_owned());
    let request = UpdateFunctionConfigurationRequest {
        environment: Some(EnvironmentRequest {
            variables: Some(variables),
        }),
        ..Default::default()
    };
    let updated: FunctionConfiguration = client
        .put(&url)
        .json(&request)
        .send()
        .await
        .context("UpdateFunctionConfiguration")?
        .error_for_status()
        .context("UpdateFunctionConfiguration")?
        .json()
        .await
        .context("reading UpdateFunctionConfiguration's answer")?;
    Ok((previous, updated))
}

/// Polls GetFunctionConfiguration until `LastUpdateStatus` leaves `InProgress` (as `aws lambda
/// wait function-updated` does), for at most 10 s; returns the last status read.
pub async fn wait_until_updated(
    client: &reqwest::Client,
    lambda_api: &str,
    function_name: &str,
) -> Option<String> {
    let url = configuration_url(lambda_api, function_name);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut last = None;
    while tokio::time::Instant::now() < deadline {
        let read = async {
            client
                .get(&url)
                .send()
                .await?
                .error_for_status()?
                .json::<FunctionConfiguration>()
                .await
        };
        if let Ok(config) = read.await {
            let done = config.last_update_status != "InProgress";
            last = Some(config.last_update_status);
            if done {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}
