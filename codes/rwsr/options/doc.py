"""The option reference page (docs/options.md), generated from the schema.

    python -m rwsr.options.doc > docs/options.md      (run in codes/, or `make docs`)
"""
from .schema import DATASET, DATASETS_KEY, GENERAL, REQUIRED, SECTIONS


def _default(spec):
    if spec.default is REQUIRED:
        return "**required**"
    if spec.default is None:
        return "null"
    return f"`{spec.default}`"


def _rows(prefix, table):
    for key, spec in table.items():
        choices = f" ({' / '.join(str(c) for c in spec.choices)})" if spec.choices else ""
        yield f"| `{prefix}{key}` | {spec.kind} | {_default(spec)} | {spec.doc}{choices} |"


def option_reference():
    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    lines.extend(_rows("", GENERAL))
    lines.extend(_rows(f"{DATASETS_KEY}.<name>.", DATASET))
    for section, table in SECTIONS.items():
        lines.extend(_rows(f"{section}.", table))
    return "\n".join(lines)


PAGE_HEADER = """# Option reference

Every key an option file may hold, with its type, default and meaning. Generated from
`codes/rwsr/options/schema.py` by `make docs`; a test fails when this page and the schema differ.
Unknown keys are errors that suggest the closest valid key; `--set KEY=VALUE` overrides any key.
`datasets.<name>`: the name says the phase (`train`, `val`, `val_2`, `test_1`, ...).
"""


def reference_page():
    return PAGE_HEADER + "\n" + option_reference() + "\n"


if __name__ == "__main__":
    print(reference_page(), end="")
