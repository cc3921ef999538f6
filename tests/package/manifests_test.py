#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Checks packaging/kubernetes/*.yaml for what a cluster requires and what mxwatch needs.

    tests/package/manifests_test.py SOURCE_DIR

No cluster is needed: the manifests are parsed with python3-yaml and checked field by field
(the API server would reject a DaemonSet whose selector does not match its template, or whose
mounts name undeclared volumes). yamllint runs too when it is installed (always under CI=true).
"""
import os
import shutil
import subprocess
import sys
import unittest

import yaml

SOURCE_DIR = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else ".")
KUBE_DIR = os.path.join(SOURCE_DIR, "packaging", "kubernetes")

CAPABILITIES = {"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH", "SYS_NICE"}
METRICS_PORT = 9469
YAMLLINT_CONFIG = "{extends: default, rules: {line-length: {max: 100}, document-start: disable}}"


def load_all():
    documents = []
    for name in sorted(os.listdir(KUBE_DIR)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(KUBE_DIR, name), encoding="utf-8") as f:
                documents += [(name, d) for d in yaml.safe_load_all(f) if d is not None]
    return documents


class Manifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.documents = load_all()
        cls.by_kind = {}
        for name, doc in cls.documents:
            cls.by_kind.setdefault(doc.get("kind"), []).append(doc)

    def daemonset(self):
        self.assertEqual(len(self.by_kind.get("DaemonSet", [])), 1, "exactly one DaemonSet")
        return self.by_kind["DaemonSet"][0]

    def container(self):
        containers = self.daemonset()["spec"]["template"]["spec"]["containers"]
        self.assertEqual(len(containers), 1)
        return containers[0]

    def test_every_object_is_addressable(self):
        self.assertTrue(self.documents, f"no manifests in {KUBE_DIR}")
        for name, doc in self.documents:
            with self.subTest(file=name, kind=doc.get("kind")):
                self.assertIsInstance(doc.get("apiVersion"), str)
                self.assertIsInstance(doc.get("kind"), str)
                self.assertTrue(doc.get("metadata", {}).get("name"))
                if doc["kind"] != "Namespace":
                    self.assertEqual(doc["metadata"].get("namespace"), "mxwatch")

    def test_namespace_and_service_account_exist(self):
        namespaces = [d["metadata"]["name"] for d in self.by_kind.get("Namespace", [])]
        self.assertIn("mxwatch", namespaces)
        # hostPID/hostNetwork/capabilities are the "privileged" Pod Security level.
        labels = self.by_kind["Namespace"][0]["metadata"].get("labels", {})
        self.assertEqual(labels.get("pod-security.kubernetes.io/enforce"), "privileged")
        accounts = [d["metadata"]["name"] for d in self.by_kind.get("ServiceAccount", [])]
        spec = self.daemonset()["spec"]["template"]["spec"]
        self.assertIn(spec.get("serviceAccountName"), accounts)
        self.assertIs(spec.get("automountServiceAccountToken"), False)

    def test_daemonset_shape(self):
        ds = self.daemonset()
        self.assertEqual(ds["apiVersion"], "apps/v1")
        selector = ds["spec"]["selector"]["matchLabels"]
        labels = ds["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(selector)
        for key, value in selector.items():
            self.assertEqual(labels.get(key), value, f"selector {key} does not match the template")
        self.assertEqual(ds["spec"]["updateStrategy"]["type"], "RollingUpdate")
        spec = ds["spec"]["template"]["spec"]
        self.assertIs(spec.get("hostPID"), True)
        self.assertEqual(spec.get("priorityClassName"), "system-node-critical")
        self.assertIn({"operator": "Exists"}, spec.get("tolerations", []), "must tolerate every taint")

    def test_container(self):
        c = self.container()
        self.assertTrue(c.get("name"))
        self.assertTrue(c.get("image"), "container without an image")
        resources = c.get("resources", {})
        for kind in ("requests", "limits"):
            self.assertIn("cpu", resources.get(kind, {}))
            self.assertIn("memory", resources.get(kind, {}))
        args = c.get("args", [])
        self.assertIn(f"--metrics-address=0.0.0.0:{METRICS_PORT}", args)
        ports = {p["name"]: p for p in c.get("ports", [])}
        self.assertEqual(ports["metrics"]["containerPort"], METRICS_PORT)
        # Ready once metrics are served; alive while the detection loop publishes
        # (/healthz answers 503 when it has stopped for 30 s).
        for probe, path in (("readinessProbe", "/metrics"), ("livenessProbe", "/healthz")):
            http = c[probe]["httpGet"]
            self.assertEqual(http["path"], path, probe)
            self.assertIn(http["port"], ("metrics", METRICS_PORT))

    def test_security_context(self):
        sc = self.container()["securityContext"]
        self.assertIs(sc.get("privileged"), False, "capabilities, not privileged")
        self.assertIs(sc.get("allowPrivilegeEscalation"), False)
        self.assertIs(sc.get("readOnlyRootFilesystem"), True)
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertEqual(set(sc["capabilities"]["add"]), CAPABILITIES)
        self.assertNotIn("SYS_ADMIN", sc["capabilities"]["add"])

    def test_mounts(self):
        spec = self.daemonset()["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        mounts = {m["mountPath"]: m for m in self.container().get("volumeMounts", [])}
        for mount in mounts.values():
            self.assertIn(mount["name"], volumes, f"mount {mount['mountPath']}: undeclared volume")
        used = {m["name"] for m in mounts.values()}
        self.assertEqual(set(volumes) - used, set(), "declared but unused volumes")
        # Everything from the host is read-only.
        for mount in mounts.values():
            if "hostPath" in volumes[mount["name"]]:
                with self.subTest(mount=mount["mountPath"]):
                    self.assertIs(mount.get("readOnly"), True)
        self.assertEqual(volumes[mounts["/sys/kernel/btf"]["name"]]["hostPath"]["path"], "/sys/kernel/btf")
        self.assertEqual(volumes[mounts["/sys/fs/cgroup"]["name"]]["hostPath"]["path"], "/sys/fs/cgroup")

    def test_podmonitor_scrapes_the_daemonset_metrics_port(self):
        monitors = self.by_kind.get("PodMonitor", [])
        self.assertEqual(len(monitors), 1, "one PodMonitor (Prometheus Operator)")
        monitor = monitors[0]
        self.assertEqual(monitor["apiVersion"], "monitoring.coreos.com/v1")
        labels = self.daemonset()["spec"]["template"]["metadata"]["labels"]
        for key, value in monitor["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(labels.get(key), value, f"the PodMonitor's selector {key} matches no mxwatch pod")
        ports = {p["name"] for p in self.container().get("ports", [])}
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            self.assertIn(endpoint["port"], ports)
            self.assertEqual(endpoint.get("path", "/metrics"), "/metrics")
            targets = [r.get("targetLabel") for r in endpoint.get("relabelings", [])]
            self.assertIn("node", targets, "alerts name the node")

    def test_yamllint(self):
        if shutil.which("yamllint") is None:
            if os.environ.get("CI") == "true":
                self.fail("yamllint not found (scripts/install-deps.sh installs it)")
            self.skipTest("yamllint not installed")
        files = sorted(os.path.join(KUBE_DIR, n) for n in os.listdir(KUBE_DIR) if n.endswith(".yaml"))
        prometheus_dir = os.path.join(SOURCE_DIR, "packaging", "prometheus")
        files.append(os.path.join(prometheus_dir, "mxwatch-rules.yml"))  # its tests hold long series
        result = subprocess.run(["yamllint", "-s", "-d", YAMLLINT_CONFIG, *files],
                                capture_output=True, text=True, check=False)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
