"""Print the option reference (Markdown) from the schema: `python -m rwsr.options.doc`."""
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


if __name__ == "__main__":
    print(option_reference())
