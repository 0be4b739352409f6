//! Serving a control plane: both HTTP faces bound on 127.0.0.1 ([`ControlPlane::serve`]), where
//! they listen ([`Endpoints`]) and how to stop them ([`Served`]).

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::plane::ControlPlane;
use super::{function_url, lambda_api};

/// Where a served control plane listens.
#[derive(Clone, Copy, Debug)]
pub struct Endpoints {
    /// The Lambda REST API (`aws --endpoint-url http://<this>`).
    pub lambda_api: SocketAddr,
    /// The Function URL.
    pub function_url: SocketAddr,
}

/// The two servers of a control plane; dropping it does not stop them, [`Served::stop`] does.
pub struct Served {
    pub endpoints: Endpoints,
    tasks: Vec<JoinHandle<()>>,
}

impl Served {
    /// Stops accepting requests (environments are left to [`ControlPlane::close`]).
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

impl ControlPlane {
    /// Binds both HTTP faces on 127.0.0.1 (port 0 picks a free port) and serves them until
    /// [`Served::stop`].
    pub async fn serve(
        &self,
        lambda_api_port: u16,
        function_url_port: u16,
    ) -> anyhow::Result<Served> {
        let api = TcpListener::bind(("127.0.0.1", lambda_api_port))
            .await
            .with_context(|| format!("binding the Lambda API on 127.0.0.1:{lambda_api_port}"))?;
        let url = TcpListener::bind(("127.0.0.1", function_url_port))
            .await
            .with_context(|| {
                format!("binding the Function URL on 127.0.0.1:{function_url_port}")
            })?;
        let endpoints = Endpoints {
            lambda_api: api.local_addr()?,
            function_url: url.local_addr()?,
        };
        let api_router = lambda_api::router(self.clone());
        let url_router = function_url::router(self.clone(), endpoints.function_url);
        let tasks = vec![
            tokio::spawn(async move {
                if let Err(e) = axum::serve(api, api_router).await {
                    tracing::error!("Lambda API server stopped: {e}");
                }
            }),
            tokio::spawn(async move {
                if let Err(e) = axum::serve(url, url_router).await {
                    tracing::error!("Function URL server stopped: {e}");
                }
            }),
        ];
        Ok(Served { endpoints, tasks })
    }
}
