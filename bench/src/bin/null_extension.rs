//! The floor: an external extension that does nothing but take its events.

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")?;
    coldmark_bench::null_extension::run(&api, "null_extension").await?;
    Ok(())
}
