//! The deployment artefacts in deploy/ and config/ are consistent and valid.

use crate::support;

use std::process::Command;

use serde::Deserialize;
use support::binary;

const TOKEN_ENV: (&str, &str) = ("APPSIGNAL_GATEWAY_UPSTREAM__TOKEN", "a-token-for-checking");

fn check(path: &str) {
    let (status, _, stderr) = binary::run(&["check", "--config", path], &[TOKEN_ENV]);
    assert!(status.success(), "{path} does not pass check:\n{stderr}");
}

#[test]
fn shipped_configs_pass_check() {
    check("config/gateway.yaml");
    check("deploy/gateway.yaml");
}

fn kubernetes_documents() -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string("deploy/kubernetes.yaml").unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| serde_yaml::Value::deserialize(doc).unwrap())
        .collect()
}

fn of_kind<'a>(docs: &'a [serde_yaml::Value], kind: &str) -> &'a serde_yaml::Value {
    docs.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind} in deploy/kubernetes.yaml"))
}

#[test]
fn kubernetes_config_is_valid_and_only_the_public_port_is_exposed() {
    let docs = kubernetes_documents();
    let yaml = of_kind(&docs, "ConfigMap")["data"]["gateway.yaml"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    check(&binary::write_config(dir.path(), &yaml));
    let config: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let port = |key: &str| config[key].as_str().unwrap().rsplit(':').next().unwrap().parse::<u64>().unwrap();

    let container = &of_kind(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    let named = |name: &str| {
        container["ports"].as_sequence().unwrap().iter().find(|p| p["name"] == name).unwrap()["containerPort"]
            .as_u64()
    };
    assert_eq!(named("http"), Some(port("listen")));
    assert_eq!(named("admin"), Some(port("admin_listen")));
    assert_eq!(container["livenessProbe"]["httpGet"]["port"], "admin");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["readinessProbe"]["httpGet"]["port"], "admin");
    assert!(container["resources"]["limits"]["memory"].as_str().is_some());

    let service_ports = of_kind(&docs, "Service")["spec"]["ports"].as_sequence().unwrap().clone();
    assert_eq!(service_ports.len(), 1, "the Service must expose only the public port");
    assert_eq!(service_ports[0]["targetPort"], "http");

    // The token file the gateway is told to read is where the Secret is mounted.
    let token_file = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "APPSIGNAL_GATEWAY_UPSTREAM__TOKEN_FILE")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let mounts = container["volumeMounts"].as_sequence().unwrap();
    assert!(mounts
        .iter()
        .any(|m| token_file.starts_with(m["mountPath"].as_str().unwrap()) && m["name"] == "token"));
}

#[test]
fn the_public_port_serves_https_with_a_certificate_from_a_secret() {
    let docs = kubernetes_documents();
    let spec = &of_kind(&docs, "Deployment")["spec"]["template"]["spec"];
    let container = &spec["containers"][0];
    let env = |name: &str| {
        let found = container["env"].as_sequence().unwrap().iter().find(|e| e["name"] == name);
        found.unwrap_or_else(|| panic!("{name} not set"))["value"].as_str().unwrap().to_owned()
    };
    let mount = container["volumeMounts"].as_sequence().unwrap().iter().find(|m| m["name"] == "tls").unwrap();
    let dir = mount["mountPath"].as_str().unwrap();
    assert!(env("APPSIGNAL_GATEWAY_TLS__CERT_FILE").starts_with(dir));
    assert!(env("APPSIGNAL_GATEWAY_TLS__KEY_FILE").starts_with(dir));
    let volume = spec["volumes"].as_sequence().unwrap().iter().find(|v| v["name"] == "tls").unwrap();
    assert_eq!(volume["secret"]["secretName"], "appsignal-gateway-tls");
}

#[test]
fn replicas_share_through_a_redis_url_from_a_secret() {
    let docs = kubernetes_documents();
    let container = &of_kind(&docs, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    let env = container["env"].as_sequence().unwrap();
    let url = env
        .iter()
        .find(|e| e["name"] == "APPSIGNAL_GATEWAY_SHARED__REDIS_URL")
        .expect("the shared tier's URL");
    let secret = &url["valueFrom"]["secretKeyRef"];
    assert_eq!(secret["name"], "appsignal-gateway-redis");
    assert_eq!(
        secret["optional"], true,
        "without the Secret, replicas stand alone instead of failing to start"
    );
    let text = std::fs::read_to_string("deploy/valkey.yaml").unwrap();
    let valkey: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .collect();
    let policy = of_kind(&valkey, "NetworkPolicy");
    assert_eq!(
        policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app"],
        "appsignal-gateway"
    );
}

#[test]
fn systemd_unit_verifies() {
    if Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("systemd-analyze is not installed here; skipping the unit check");
        return;
    }
    let unit = std::fs::read_to_string("deploy/appsignal-gateway.service").unwrap();
    for directive in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "LoadCredential=",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.contains(directive), "the unit lacks {directive}");
    }
    // verify needs the executable to exist: point the unit at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("appsignal-gateway.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/appsignal-gateway", env!("CARGO_BIN_EXE_appsignal-gateway")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
}

#[test]
fn dockerfile_runs_as_non_root_with_a_healthcheck() {
    let dockerfile = std::fs::read_to_string("deploy/Dockerfile").unwrap();
    assert!(dockerfile.contains("USER 10001"));
    assert!(dockerfile.contains("HEALTHCHECK"));
    assert!(dockerfile.contains("/etc/appsignal-gateway/gateway.yaml"));
    assert!(dockerfile.matches("FROM ").count() >= 2, "not a multi-stage build");
}

#[test]
fn kubernetes_manifest_never_overwrites_the_token_and_fences_the_admin_port() {
    let docs = kubernetes_documents();
    assert!(
        docs.iter().all(|d| d["kind"] != "Secret"),
        "applying the manifest would overwrite the token Secret created by hand"
    );
    let text = std::fs::read_to_string("deploy/kubernetes.yaml").unwrap();
    assert!(text.contains("kubectl create secret generic appsignal-gateway-token"));
    assert!(text.contains("kubectl rollout restart"), "how a ConfigMap change reaches the pods");

    let template = &of_kind(&docs, "Deployment")["spec"]["template"];
    let image = template["spec"]["containers"][0]["image"].as_str().unwrap();
    assert!(image.starts_with("REGISTRY/") && text.contains("replace"), "image {image} is not a placeholder");
    assert!(template["metadata"]["annotations"]["appsignal-gateway/config-revision"].is_string());

    // The admin port is admitted only from labelled namespaces; the public port from all.
    let policy = of_kind(&docs, "NetworkPolicy");
    assert_eq!(policy["spec"]["podSelector"]["matchLabels"]["app"], "appsignal-gateway");
    let rules = policy["spec"]["ingress"].as_sequence().unwrap();
    let admin = rules
        .iter()
        .find(|r| r["ports"].as_sequence().unwrap().iter().any(|p| p["port"] == "admin"))
        .expect("a rule for the admin port");
    let from = admin["from"].as_sequence().expect("the admin port must name who may reach it");
    assert_eq!(from[0]["namespaceSelector"]["matchLabels"]["appsignal-gateway/metrics"], "allowed");
    for rule in rules.iter().filter(|r| r["from"].is_null()) {
        assert!(rule["ports"].as_sequence().unwrap().iter().all(|p| p["port"] == "http"), "{rule:?}");
    }
    assert!(text.contains("kubectl label namespace monitoring appsignal-gateway/metrics=allowed"));
}

#[test]
fn docker_build_context_leaves_out_target() {
    let ignore = std::fs::read_to_string(".dockerignore").expect("a .dockerignore beside Cargo.toml");
    assert!(ignore.lines().any(|l| l.trim() == "target/" || l.trim() == "target"));
    // What the Dockerfile copies is not ignored.
    let dockerfile = std::fs::read_to_string("deploy/Dockerfile").unwrap();
    for copied in ["Cargo.toml", "Cargo.lock", "src", "deploy/gateway.yaml"] {
        assert!(dockerfile.contains(copied));
        assert!(!ignore.lines().any(|l| l.trim().trim_end_matches('/') == copied), "{copied} is ignored");
    }
    assert!(dockerfile.contains("-v \"$PWD/"), "the docker run line must mount one's own config");
}
