//! The real AWS CLI pointed at a local endpoint: throwaway credentials, no credential or config
//! files, no instance metadata lookups, so nothing leaves 127.0.0.1.

use std::process::{Command, Output};

/// `aws --endpoint-url <endpoint> --output json`, isolated from the user's AWS setup; the
/// caller adds the service, operation and arguments.
pub fn aws_command(endpoint: &str) -> Command {
    let mut command = Command::new("aws");
    command
        .arg("--endpoint-url")
        .arg(endpoint)
        .args(["--output", "json"])
        .env("AWS_ACCESS_KEY_ID", "AKIDSANDBOXEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "sandbox-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_PAGER", "");
    command
}

/// `aws --endpoint-url <endpoint> --output json <args>`, whatever its exit status.
pub fn aws_output(endpoint: &str, args: &[&str]) -> Output {
    aws_command(endpoint)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "the AWS CLI is needed for this test and could not be run ({e}). {}",
                crate::venv::install_hint("the AWS CLI", &["awscli"])
            )
        })
}

/// [`aws_output`] that must succeed; its stdout.
pub fn aws_stdout(endpoint: &str, args: &[&str]) -> String {
    let output = aws_output(endpoint, args);
    assert!(
        output.status.success(),
        "aws {} failed: {}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the AWS CLI's answer is UTF-8")
}
