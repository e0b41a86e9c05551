#!/usr/bin/env python3
"""Checks the Kubernetes manifests as a cluster would take them, offline.

Renders the base and every overlay with `kubectl kustomize`, validates each
object against the API schemas of a pinned Kubernetes version
(`kubernetes-validate`, strict: unknown fields are errors), then checks what
the schemas cannot see, within each render:

- every NetworkPolicy's podSelector, and every podSelector of its ingress
  `from` and egress `to` peers, selects at least one pod template, and the
  ports it admits are ports those pods declare;
- every Service's selector selects a pod template, and a named targetPort is
  a port every selected pod declares;
- every PodDisruptionBudget selects pods and can be met while one pod is
  evicted (minAvailable below the replicas);
- a workload scaled by a HorizontalPodAutoscaler sets no `replicas` of its own
  (the autoscaler owns the count), and the autoscaler's target exists;
- every service URL in a ConfigMap (`http://name:port`) names a headless
  Service of the render with that port, so the gateway, which resolves the
  name to every address, reaches every ready pod and not one ClusterIP;
- every image names a tag other than `latest` (the default pull policy of
  `latest` is Always, which cannot start an image loaded into a local node);
- monitoring (the Prometheus Operator's PodMonitor and PrometheusRule, which
  have no schema among Kubernetes' own, and Grafana dashboards in ConfigMaps
  labelled `grafana_dashboard`): a PodMonitor selects pod templates that
  declare the port it scrapes; every alert and recording rule, and every
  dashboard query, is PromQL that parses (`promql-parser`) and names only
  metrics the services export, as listed in
  `components/monitoring/metrics.txt` (a kit test keeps that list equal to
  the code); alerts carry a `for`, a severity and a summary.

Run with `--self-test` to check the checker on a render with the label bug
it exists for (policies selecting a label no pod template carries), and on
rules naming a metric nobody exports.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import subprocess
import sys

import kubernetes_validate
import promql_parser
import yaml

# The Kubernetes version whose schemas the objects must satisfy; the
# kubernetes-validate release pinned in deploy/local/test.sh ships them.
KUBERNETES_VERSION = "1.32.0"

ROOT = pathlib.Path(__file__).resolve().parent

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

# Custom resources of the Prometheus Operator: no schema among Kubernetes'
# own, so check_monitoring checks them instead.
CUSTOM_KINDS = {
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}

METRICS_LIST = ROOT / "components" / "monitoring" / "metrics.txt"

# Series Prometheus itself makes for every target it scrapes.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

SEVERITIES = {"critical", "warning", "info"}


def render(directory: pathlib.Path) -> list[dict]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def name_of(obj: dict) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def namespace_of(obj: dict) -> str:
    return obj.get("metadata", {}).get("namespace") or "default"


class PodTemplate:
    """A pod a workload makes: its labels, ports and where it comes from."""

    def __init__(self, owner: dict, template: dict):
        self.owner = owner
        self.namespace = namespace_of(owner)
        self.labels = template.get("metadata", {}).get("labels") or {}
        spec = template.get("spec") or {}
        self.containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
        self.ports = [
            port
            for container in spec.get("containers") or []
            for port in container.get("ports") or []
        ]

    def declares(self, port) -> bool:
        if isinstance(port, str):
            return any(p.get("name") == port for p in self.ports)
        return any(p.get("containerPort") == port for p in self.ports)


def pod_templates(objects: list[dict]) -> list[PodTemplate]:
    templates = []
    for obj in objects:
        kind, spec = obj.get("kind"), obj.get("spec") or {}
        if kind in WORKLOADS:
            templates.append(PodTemplate(obj, spec.get("template") or {}))
        elif kind == "CronJob":
            job = (spec.get("jobTemplate") or {}).get("spec") or {}
            templates.append(PodTemplate(obj, job.get("template") or {}))
        elif kind == "Pod":
            templates.append(PodTemplate(obj, obj))
    return templates


def selects(selector: dict | None, labels: dict) -> bool:
    """Whether a LabelSelector selects `labels` (an empty one selects all)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selected(selector, namespace, templates, any_namespace=False):
    return [
        t
        for t in templates
        if (any_namespace or t.namespace == namespace) and selects(selector, t.labels)
    ]


def check_network_policy(policy: dict, templates: list[PodTemplate]) -> list[str]:
    problems = []
    where = name_of(policy)
    namespace = namespace_of(policy)
    spec = policy.get("spec") or {}
    targets = selected(spec.get("podSelector"), namespace, templates)
    if not targets:
        problems.append(
            f"{where}: podSelector {spec.get('podSelector')} selects no pod template"
        )
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, peer in enumerate(rule.get(peers_key) or []):
                if "podSelector" not in peer:
                    continue
                # A namespaceSelector beside it reaches other namespaces,
                # whose labels a render cannot know: look in every one.
                found = selected(
                    peer["podSelector"],
                    namespace,
                    templates,
                    any_namespace="namespaceSelector" in peer,
                )
                if not found:
                    problems.append(
                        f"{where}: {direction}[{i}].{peers_key}[{j}].podSelector "
                        f"{peer['podSelector']} selects no pod template"
                    )
            # Ingress ports are the selected pods' own ports.
            if direction == "ingress" and targets:
                for port in rule.get("ports") or []:
                    if "port" in port and not any(t.declares(port["port"]) for t in targets):
                        problems.append(
                            f"{where}: ingress[{i}] admits port {port['port']}, "
                            "which no selected pod declares"
                        )
    return problems


def check_service(service: dict, templates: list[PodTemplate]) -> list[str]:
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName" or "selector" not in spec:
        return []
    where = name_of(service)
    found = selected({"matchLabels": spec["selector"]}, namespace_of(service), templates)
    if not found:
        return [f"{where}: selector {spec['selector']} selects no pod template"]
    problems = []
    for port in spec.get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        missing = [name_of(t.owner) for t in found if not t.declares(target)]
        if missing:
            problems.append(
                f"{where}: targetPort {target!r} is not a port of {', '.join(missing)}"
            )
    return problems


def replicas_of(workload: dict) -> int:
    return (workload.get("spec") or {}).get("replicas", 1)


def check_disruption_budget(pdb: dict, templates, autoscalers) -> list[str]:
    where = name_of(pdb)
    spec = pdb.get("spec") or {}
    found = selected(spec.get("selector"), namespace_of(pdb), templates)
    if not found:
        return [f"{where}: selector {spec.get('selector')} selects no pod template"]
    min_available = spec.get("minAvailable")
    if not isinstance(min_available, int):
        return []
    problems = []
    for template in found:
        owner = template.owner
        scaled = autoscalers.get((namespace_of(owner), owner.get("kind"), owner["metadata"]["name"]))
        fewest = (scaled.get("spec") or {}).get("minReplicas", 1) if scaled else replicas_of(owner)
        if fewest <= min_available:
            problems.append(
                f"{where}: minAvailable {min_available} over {fewest} replica(s) of "
                f"{name_of(owner)} blocks every voluntary eviction (a node drain)"
            )
    return problems


def check_autoscalers(objects, autoscalers) -> list[str]:
    problems = []
    workloads = {
        (namespace_of(o), o.get("kind"), o["metadata"]["name"]): o
        for o in objects
        if o.get("kind") in WORKLOADS | {"StatefulSet"}
    }
    for key, hpa in autoscalers.items():
        target = workloads.get(key)
        if target is None:
            problems.append(f"{name_of(hpa)}: scales {key[1]}/{key[2]}, which is not in the render")
        elif "replicas" in (target.get("spec") or {}):
            problems.append(
                f"{name_of(target)}: sets replicas although {name_of(hpa)} owns the count "
                "(every apply would reset what the autoscaler chose)"
            )
    return problems


def check_images(templates: list[PodTemplate]) -> list[str]:
    problems = []
    for template in templates:
        for container in template.containers:
            image = container.get("image", "")
            last = image.rsplit("/", 1)[-1]
            tag = last.split(":", 1)[1] if ":" in last.split("@", 1)[0] else None
            if "@" in image:
                continue
            where = f"{name_of(template.owner)} container {container.get('name')}"
            if tag in (None, "latest"):
                problems.append(
                    f"{where}: image {image!r} names no version (a :latest image is pulled "
                    "on every start and never pins what runs)"
                )
    return problems


def check_service_urls(objects: list[dict]) -> list[str]:
    services = {
        (namespace_of(o), o["metadata"]["name"]): o for o in objects if o.get("kind") == "Service"
    }
    problems = []
    for config in (o for o in objects if o.get("kind") == "ConfigMap"):
        for key, value in (config.get("data") or {}).items():
            match = re.fullmatch(r"https?://([a-z0-9-]+)(?::(\d+))?/?", str(value))
            if not key.endswith("_URL") or not match:
                continue
            host, port = match.group(1), int(match.group(2) or 80)
            service = services.get((namespace_of(config), host))
            where = f"{name_of(config)} {key}"
            if service is None:
                problems.append(f"{where}: {value} names no Service of the render")
                continue
            spec = service.get("spec") or {}
            if spec.get("clusterIP") != "None":
                problems.append(
                    f"{where}: Service/{host} is not headless (clusterIP: None), so one "
                    "connection to it reaches one pod"
                )
            if not any(p.get("port") == port for p in spec.get("ports") or []):
                problems.append(f"{where}: Service/{host} has no port {port}")
    return problems


def exported_metrics(path: pathlib.Path = METRICS_LIST) -> set[str]:
    """The sample names the services serve: each listed family, and a
    histogram's `_bucket`, `_sum` and `_count`."""
    names = set()
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, kind = line.split()
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            names.add(name)
    return names


# Grafana's interval variables, which PromQL cannot parse, as a duration.
GRAFANA_INTERVALS = re.compile(r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}")


def check_promql(where: str, expr: str, known: set[str]) -> list[str]:
    """`expr` parses as PromQL and names only known metrics."""
    try:
        ast = promql_parser.parse(GRAFANA_INTERVALS.sub("5m", expr))
    except ValueError as e:
        return [f"{where}: PromQL does not parse ({e}): {expr.strip()}"]
    named: list[str | None] = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            named.append(node.name)
        return True

    promql_parser.walk(ast, visit)
    problems = []
    for name in named:
        if not name:
            problems.append(f"{where}: a selector names no metric: {expr.strip()}")
        elif name not in known and name not in PROMETHEUS_SERIES:
            problems.append(
                f"{where}: {name} is not a metric the services export "
                f"(components/monitoring/metrics.txt)"
            )
    if not named:
        problems.append(f"{where}: names no metric at all: {expr.strip()}")
    return problems


def check_pod_monitor(monitor: dict, templates: list[PodTemplate]) -> list[str]:
    where = name_of(monitor)
    spec = monitor.get("spec") or {}
    any_namespace = (spec.get("namespaceSelector") or {}).get("any", False)
    found = selected(spec.get("selector"), namespace_of(monitor), templates, any_namespace)
    if not found:
        return [f"{where}: selector {spec.get('selector')} selects no pod template"]
    problems = []
    endpoints = spec.get("podMetricsEndpoints") or []
    if not endpoints:
        problems.append(f"{where}: no podMetricsEndpoints")
    for i, endpoint in enumerate(endpoints):
        port = endpoint.get("port")
        if not port:
            problems.append(f"{where}: podMetricsEndpoints[{i}] names no port")
            continue
        missing = [name_of(t.owner) for t in found if not t.declares(port)]
        if missing:
            problems.append(
                f"{where}: podMetricsEndpoints[{i}] scrapes port {port!r}, "
                f"which {', '.join(missing)} does not declare"
            )
    return problems


def check_prometheus_rule(rule: dict, known: set[str]) -> list[str]:
    where = name_of(rule)
    groups = (rule.get("spec") or {}).get("groups") or []
    if not groups:
        return [f"{where}: no rule groups"]
    problems = []
    for group in groups:
        rules = group.get("rules") or []
        if not group.get("name") or not rules:
            problems.append(f"{where}: a group needs a name and rules")
        for r in rules:
            label = r.get("alert") or r.get("record")
            here = f"{where} {group.get('name')}/{label}"
            if bool(r.get("alert")) == bool(r.get("record")):
                problems.append(f"{here}: a rule is either an alert or a record")
            if not isinstance(r.get("expr"), str):
                problems.append(f"{here}: no expr")
                continue
            problems += check_promql(here, r["expr"], known)
            if r.get("alert"):
                if not re.fullmatch(r"(\d+[smhdwy])+", str(r.get("for", ""))):
                    problems.append(f"{here}: an alert needs a `for` duration (a blip must not page)")
                if (r.get("labels") or {}).get("severity") not in SEVERITIES:
                    problems.append(f"{here}: labels.severity must be one of {sorted(SEVERITIES)}")
                annotations = r.get("annotations") or {}
                for key in ("summary", "description"):
                    if not annotations.get(key):
                        problems.append(f"{here}: annotations.{key} is missing")
    return problems


def dashboard_queries(node, path="") -> list[tuple[str, str]]:
    """Every PromQL query of a Grafana dashboard: panel targets (rows
    included) and query variables."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else key
            if key == "expr" and isinstance(value, str):
                found.append((here, value))
            elif key == "query" and isinstance(value, dict) and isinstance(value.get("query"), str):
                match = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", value["query"], re.S)
                if match:
                    found.append((here, match.group(1)))
            else:
                found += dashboard_queries(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += dashboard_queries(value, f"{path}[{i}]")
    return found


def check_dashboard(config: dict, known: set[str]) -> list[str]:
    problems = []
    for key, text in (config.get("data") or {}).items():
        where = f"{name_of(config)} {key}"
        try:
            dashboard = json.loads(text)
        except json.JSONDecodeError as e:
            problems.append(f"{where}: not JSON: {e}")
            continue
        if not dashboard.get("title") or not dashboard.get("uid"):
            problems.append(f"{where}: a dashboard needs a title and a uid")
        queries = dashboard_queries(dashboard)
        if not queries:
            problems.append(f"{where}: no queries")
        for path, expr in queries:
            problems += check_promql(f"{where} {path}", expr, known)
    return problems


def check_monitoring(objects: list[dict], templates: list[PodTemplate], known: set[str]) -> list[str]:
    problems = []
    for obj in objects:
        kind = obj.get("kind")
        if kind == "PodMonitor":
            problems += check_pod_monitor(obj, templates)
        elif kind == "PrometheusRule":
            problems += check_prometheus_rule(obj, known)
        elif kind == "ConfigMap" and "grafana_dashboard" in (obj.get("metadata", {}).get("labels") or {}):
            problems += check_dashboard(obj, known)
    return problems


def check_render(objects: list[dict], known: set[str] | None = None) -> list[str]:
    templates = pod_templates(objects)
    autoscalers = {}
    for obj in objects:
        if obj.get("kind") == "HorizontalPodAutoscaler":
            ref = obj["spec"]["scaleTargetRef"]
            autoscalers[(namespace_of(obj), ref["kind"], ref["name"])] = obj
    problems = []
    for obj in objects:
        kind = obj.get("kind")
        if kind == "NetworkPolicy":
            problems += check_network_policy(obj, templates)
        elif kind == "Service":
            problems += check_service(obj, templates)
        elif kind == "PodDisruptionBudget":
            problems += check_disruption_budget(obj, templates, autoscalers)
    problems += check_autoscalers(objects, autoscalers)
    problems += check_service_urls(objects)
    problems += check_images(templates)
    problems += check_monitoring(objects, templates, exported_metrics() if known is None else known)
    return problems


def validate(objects: list[dict]) -> list[str]:
    problems = []
    for obj in objects:
        if (obj.get("apiVersion"), obj.get("kind")) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            problems.append(f"{name_of(obj)}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{name_of(obj)}: no schema for {obj.get('apiVersion')} in Kubernetes {KUBERNETES_VERSION}")
    return problems


def renders() -> list[pathlib.Path]:
    overlays = sorted(p.parent for p in (ROOT / "overlays").glob("*/kustomization.yaml"))
    return [ROOT / "base", *overlays]


def self_test() -> None:
    """The checker must catch the bug it was written for."""
    bad = list(
        yaml.safe_load_all(
            """
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, labels: {app.kubernetes.io/part-of: patron}}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: api}}
  template:
    metadata: {labels: {app.kubernetes.io/name: api}}
    spec: {containers: [{name: api, image: "patron:1", ports: [{name: grpc, containerPort: 50051}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-ingress}
spec:
  podSelector: {matchLabels: {app.kubernetes.io/name: api}}
  ingress:
    - from: [{podSelector: {matchLabels: {app.kubernetes.io/part-of: patron}}}]
      ports: [{port: 50051}]
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec:
  selector: {app.kubernetes.io/name: apii}
  ports: [{port: 50051, targetPort: grpc}]
"""
        )
    )
    problems = check_render(bad)
    expected = [
        "NetworkPolicy/api-ingress: ingress[0].from[0].podSelector",
        "Service/api: selector",
    ]
    for prefix in expected:
        assert any(p.startswith(prefix) for p in problems), (prefix, problems)
    good = [bad[0], bad[1]]
    good[1] = yaml.safe_load(yaml.safe_dump(bad[1]).replace("part-of: patron", "name: api"))
    assert check_render(good) == [], check_render(good)
    print("check.py self-test: the label bug is caught")

    monitoring = list(
        yaml.safe_load_all(
            """
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: api}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: api}}
  podMetricsEndpoints: [{port: metrics}]
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: api}
spec:
  groups:
    - name: api
      rules:
        - alert: Renamed
          expr: rate(api_requests_total[5m]) > 1
          for: 5m
          labels: {severity: critical}
          annotations: {summary: s, description: d}
        - alert: Broken
          expr: sum by (code (rate(api_handled_total[5m]))
          labels: {severity: page}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: board, labels: {grafana_dashboard: "1"}}
data:
  board.json: '{"title": "b", "uid": "b", "panels": [{"targets": [{"expr": "rate(gone_total[$__rate_interval])"}]}]}'
"""
        )
    )
    known = {"api_handled_total"}
    problems = check_render([bad[0], *monitoring], known)
    expected = [
        "PodMonitor/api: podMetricsEndpoints[0] scrapes port 'metrics'",
        "PrometheusRule/api api/Renamed: api_requests_total is not a metric",
        "PrometheusRule/api api/Broken: PromQL does not parse",
        "PrometheusRule/api api/Broken: an alert needs a `for`",
        "PrometheusRule/api api/Broken: labels.severity",
        "ConfigMap/board board.json panels[0].targets[0].expr: gone_total is not a metric",
    ]
    for prefix in expected:
        assert any(p.startswith(prefix) for p in problems), (prefix, problems)
    print("check.py self-test: rules and dashboards naming unknown metrics are caught")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("dirs", nargs="*", type=pathlib.Path, help="kustomizations (default: base and every overlay)")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return 0
    failed = False
    monitored = False
    for directory in args.dirs or renders():
        objects = render(directory)
        monitored |= any(o.get("kind") == "PrometheusRule" for o in objects)
        problems = validate(objects) + check_render(objects)
        label = directory.resolve().relative_to(ROOT.parent.parent) if directory.resolve().is_relative_to(ROOT.parent.parent) else directory
        if problems:
            failed = True
            print(f"{label}: {len(problems)} problem(s)")
            for p in problems:
                print(f"  - {p}")
        else:
            kinds = sorted({o['kind'] for o in objects})
            print(f"{label}: {len(objects)} objects valid for Kubernetes {KUBERNETES_VERSION} ({', '.join(kinds)}); selectors, budgets, autoscalers, images and monitoring check out")
    if not args.dirs and not monitored:
        print("no overlay renders the monitoring component (components/monitoring): its rules go unchecked")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
