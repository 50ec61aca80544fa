"""Imports point down the layers and the packages of rwsr form no cycle.

entry points -> cli -> engine, inference, prep, demo -> models -> losses, metrics, archs, data
-> runtime, utils, options
"""
import ast
import os

from conftest import CODES

LAYERS = {"options": 0, "utils": 0, "runtime": 1, "data": 2, "archs": 2, "losses": 2, "metrics": 2, "models": 3,
          "engine": 4, "inference": 4, "prep": 4, "demo": 4, "cli": 5}
PACKAGE = os.path.join(CODES, "rwsr")


def rwsr_imports(path, package):
    """Top-level rwsr packages that the module at path (in rwsr.<package>) imports."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    depth = 1 if package == "runtime" else 2  # rwsr/runtime.py vs rwsr/<package>/<module>.py
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                if node.level >= depth:  # leaves the package: ..x or ..x.y
                    name = (node.module or "").split(".")[0]
                    found.update([name] if name else [alias.name for alias in node.names])
            elif (node.module or "").startswith("rwsr."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("rwsr."))
    return found - {package}


def package_graph():
    graph = {}
    for package in LAYERS:
        folder = os.path.join(PACKAGE, package)
        paths = [folder + ".py"] if package == "runtime" else [
            os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".py")]
        graph[package] = set().union(*(rwsr_imports(path, package) for path in paths))
    return graph


def test_every_package_has_a_layer():
    packages = {name[:-3] if name.endswith(".py") else name for name in os.listdir(PACKAGE)
                if name != "__init__.py" and not name.startswith((".", "_"))}
    assert packages == set(LAYERS)


def test_imports_never_point_up():
    for package, imported in package_graph().items():
        upward = {name for name in imported if LAYERS[name] > LAYERS[package]}
        assert not upward, f"rwsr.{package} imports {sorted(upward)} from a higher layer"


def test_packages_form_no_cycle():
    graph = package_graph()
    visiting, done = set(), set()

    def visit(package, path):
        assert package not in visiting, "import cycle: " + " -> ".join(path + [package])
        if package in done:
            return
        visiting.add(package)
        for name in sorted(graph[package]):
            visit(name, path + [package])
        visiting.discard(package)
        done.add(package)

    for package in graph:
        visit(package, [])
