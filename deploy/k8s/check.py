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
  `latest` is Always, which cannot start an image loaded into a local node).

Run with `--self-test` to check the checker on a render with the label bug
it exists for (policies selecting a label no pod template carries).
"""

from __future__ import annotations

import argparse
import pathlib
import re
import subprocess
import sys

import kubernetes_validate
import yaml

# The Kubernetes version whose schemas the objects must satisfy; the
# kubernetes-validate release pinned in deploy/local/test.sh ships them.
KUBERNETES_VERSION = "1.32.0"

ROOT = pathlib.Path(__file__).resolve().parent

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


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


def check_render(objects: list[dict]) -> list[str]:
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
    return problems


def validate(objects: list[dict]) -> list[str]:
    problems = []
    for obj in objects:
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", action="store_true")
    parser.add_argument("dirs", nargs="*", type=pathlib.Path, help="kustomizations (default: base and every overlay)")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return 0
    failed = False
    for directory in args.dirs or renders():
        objects = render(directory)
        problems = validate(objects) + check_render(objects)
        label = directory.resolve().relative_to(ROOT.parent.parent) if directory.resolve().is_relative_to(ROOT.parent.parent) else directory
        if problems:
            failed = True
            print(f"{label}: {len(problems)} problem(s)")
            for p in problems:
                print(f"  - {p}")
        else:
            kinds = sorted({o['kind'] for o in objects})
            print(f"{label}: {len(objects)} objects valid for Kubernetes {KUBERNETES_VERSION} ({', '.join(kinds)}); selectors, budgets, autoscalers and images check out")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
