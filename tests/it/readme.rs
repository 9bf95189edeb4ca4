//! README's shell blocks as a new operator pastes them, run where they can be (against
//! the built binary, in a temporary directory), and the user docs checked against what
//! the gateway and deploy/ really do.

use crate::support;

use std::path::Path;
use std::process::Command;

use http::Method;
use support::TestGateway;

const README: &str = include_str!("../../README.md");
const TESTING: &str = include_str!("../../TESTING.md");
const ARCHITECTURE: &str = include_str!("../../ARCHITECTURE.md");
const DEPLOY_README: &str = include_str!("../../deploy/README.md");
const KUBERNETES: &str = include_str!("../../deploy/kubernetes.yaml");

/// The fenced `sh` blocks of the README section whose heading is `heading`.
fn sh_blocks(heading: &str) -> Vec<String> {
    let start = README.find(&format!("\n{heading}\n")).unwrap_or_else(|| panic!("no section {heading}"));
    let level = heading.split(' ').next().unwrap();
    let rest = &README[start + heading.len() + 2..];
    // The section ends at the next heading of the same or a higher level.
    let end = rest
        .lines()
        .scan(0, |offset, line| {
            let at = *offset;
            *offset += line.len() + 1;
            Some((at, line))
        })
        .find(|(_, line)| {
            line.split(' ').next().is_some_and(|h| h.starts_with('#') && h.len() <= level.len())
        })
        .map_or(rest.len(), |(at, _)| at);
    let mut blocks = Vec::new();
    let mut lines = rest[..end].lines();
    while let Some(line) = lines.next() {
        if line == "```sh" {
            blocks.push(lines.by_ref().take_while(|l| *l != "```").collect::<Vec<_>>().join("\n"));
        }
    }
    blocks
}

/// Runs `script` in bash in `dir`, with the built binary where README says
/// `./target/release/appsignal-gateway` or `appsignal-gateway`, and the repository's
/// `config/` by absolute path.
fn run_pasted(script: &str, dir: &Path) -> (bool, String) {
    let binary = env!("CARGO_BIN_EXE_appsignal-gateway");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/");
    let script = script
        .replace("./target/release/appsignal-gateway", binary)
        .replace(" config/", &format!(" {config}"))
        .lines()
        .map(|line| match line.strip_prefix("appsignal-gateway ") {
            Some(rest) => format!("{binary} {rest}"),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut command = Command::new("bash");
    command.args(["-euo", "pipefail", "-c", &script]).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("APPSIGNAL_GATEWAY_") {
            command.env_remove(key);
        }
    }
    let out = command.output().expect("bash runs");
    let said = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), format!("{script}\n---\n{said}"))
}

#[test]
fn running_it_for_real_works_when_pasted_in_order() {
    let blocks = sh_blocks("## Running it for real");
    let block = &blocks[0];
    let lines: Vec<&str> = block.lines().collect();
    let position = |what: &str| lines.iter().position(|l| l.contains(what));
    let export = position("export APPSIGNAL_GATEWAY_UPSTREAM__TOKEN=").expect("the token is exported");
    let check = position(" check --config").expect("the block runs check");
    assert!(export < check, "the token must be exported before `check` runs:\n{block}");
    // Everything but the build (the test binary is built) and the run (it serves until
    // stopped: tests/it/cli.rs covers it), as pasted.
    let pasted: Vec<&str> =
        lines.iter().copied().filter(|l| l.starts_with("export ") || l.contains(" check --config")).collect();
    let dir = tempfile::tempdir().unwrap();
    let (ok, said) = run_pasted(&pasted.join("\n"), dir.path());
    assert!(ok, "{said}");
    assert!(said.contains("valid. Effective settings"), "{said}");
}

#[test]
fn the_openapi_line_for_ci_pipelines_needs_no_token() {
    let blocks = sh_blocks("### API description (OpenAPI)");
    let line =
        blocks[0].lines().find(|l| l.starts_with("appsignal-gateway openapi")).expect("the openapi line");
    let dir = tempfile::tempdir().unwrap();
    let (ok, said) = run_pasted(line, dir.path());
    assert!(ok, "{said}");
    let written = std::fs::read_to_string(dir.path().join("gateway-openapi.json")).unwrap();
    let document: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
}

#[test]
fn the_docker_line_listens_where_a_published_port_reaches() {
    let blocks = sh_blocks("### Docker, systemd, Kubernetes");
    let run: String = blocks[0].split("\n\n").find(|b| b.contains("docker run")).unwrap().to_owned();
    let mounts_loopback_config = run.contains("config/gateway.yaml:/etc/appsignal-gateway/gateway.yaml");
    let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/gateway.yaml")).unwrap();
    assert!(file.contains("listen: \"127.0.0.1:8080\""), "config/gateway.yaml changed: update this test");
    if mounts_loopback_config {
        assert!(run.contains("APPSIGNAL_GATEWAY_LISTEN=0.0.0.0:8080"), "unreachable in a container:\n{run}");
    }
    let image = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/gateway.yaml")).unwrap();
    assert!(image.contains("listen: \"0.0.0.0:8080\""), "the image's default must be reachable");
}

#[test]
fn the_kubernetes_lines_create_every_secret_the_deployment_requires() {
    let blocks = sh_blocks("### Docker, systemd, Kubernetes");
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(KUBERNETES)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let volumes = deployment["spec"]["template"]["spec"]["volumes"].as_sequence().unwrap();
    for volume in volumes {
        let secret = &volume["secret"];
        let Some(name) = secret["secretName"].as_str() else { continue };
        if secret["optional"].as_bool() == Some(true) {
            continue;
        }
        assert!(
            blocks[0]
                .lines()
                .any(|l| l.starts_with("kubectl create secret") && l.contains(&format!(" {name} "))),
            "the Deployment requires the Secret {name}, which README's Kubernetes lines never create"
        );
        assert!(
            KUBERNETES.contains(&format!("kubectl create secret tls {name} "))
                || KUBERNETES.contains(&format!("kubectl create secret generic {name} "))
        );
    }
}

#[tokio::test]
async fn the_metrics_table_lists_every_series_exported() {
    let gw = TestGateway::start(|_| {}).await;
    gw.get("/api/blog/samples.json").await;
    let text = support::send(Method::GET, &format!("{}/metrics", gw.admin_url), &[]).await.text();
    let table = &README[README.find("\n### Metrics\n").unwrap()..README.find("\n### Logs\n").unwrap()];
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE appsignal_gateway_"))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert!(families.len() > 20, "{text}");
    for family in families {
        assert!(
            table.contains(&format!("| `{family}`")) || table.contains(&format!(", `{family}`")),
            "{family} is not in README's metrics table"
        );
    }
}

#[test]
fn user_docs_point_only_at_files_in_the_repository() {
    for (name, doc) in [
        ("README.md", README),
        ("TESTING.md", TESTING),
        ("ARCHITECTURE.md", ARCHITECTURE),
        ("deploy/README.md", DEPLOY_README),
    ] {
        for outside in ["PRODUCT.md", "../shared"] {
            assert!(!doc.contains(outside), "{name} points at {outside}, which a user does not have");
        }
    }
}

#[test]
fn the_test_suite_table_is_one_table() {
    let start = TESTING.find("| suite | what it covers |").unwrap();
    let table: Vec<&str> = TESTING[start..].lines().take_while(|l| l.starts_with('|')).collect();
    for suite in
        ["tests/it/chromium.rs", "tests/it/openapi.rs", "tests/it/prometheus.rs", "tests/it/operator.rs"]
    {
        assert!(table.iter().any(|row| row.contains(suite)), "{suite} is cut off the suite table");
    }
}
