"""The option reference page (docs/options.md), generated from the schema.

    python -m rwsr.options.doc > docs/options.md      (run in codes/, or `make docs`)
"""
from .schema import (DATASET, DATASETS_KEY, DISCRIMINATOR_ARGUMENTS, GENERAL, GENERATOR_ARGUMENTS, LOSS_ARGUMENTS,
                     LOSS_ENTRY, REQUIRED, SECTIONS)


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
    lines.extend(_rows("train.losses[].", LOSS_ENTRY))
    return "\n".join(lines)


def registered_names():
    """The registered architectures and losses with their keyword arguments (rwsr.utils.registry)."""
    lines = ["## Registered names", "",
             "`which_model_G`, `which_model_D` and `train.losses[].type` take one of these names, or an import path",
             "`module:Class` of your own code (see [contributing](contributing.md)). An architecture's keyword",
             "arguments are its `network_G` / `network_D` keys above.", "",
             "| option | name | keyword arguments |", "| --- | --- | --- |"]
    for option, table in (("which_model_G", GENERATOR_ARGUMENTS), ("which_model_D", DISCRIMINATOR_ARGUMENTS)):
        for name, arguments in table.items():
            lines.append(f"| `{option}` | `{name}` | {', '.join(f'`{a}`' for a in arguments)} |")
    for name, table in LOSS_ARGUMENTS.items():
        lines.append(f"| `train.losses[].type` | `{name}` | {', '.join(f'`{a}`' for a in table)} |")
    lines += ["", "Keyword arguments of the registered losses (keys of a `train.losses` entry):", "",
              "| loss | key | type | default | meaning |", "| --- | --- | --- | --- | --- |"]
    for name, table in LOSS_ARGUMENTS.items():
        for key, spec in table.items():
            choices = f" ({' / '.join(str(c) for c in spec.choices)})" if spec.choices else ""
            lines.append(f"| `{name}` | `{key}` | {spec.kind} | {_default(spec)} | {spec.doc}{choices} |")
    return "\n".join(lines)


PAGE_HEADER = """# Option reference

Every key an option file may hold, with its type, default and meaning. Generated from
`codes/rwsr/options/schema.py` by `make docs`; a test fails when this page and the schema differ.
Unknown keys are errors that suggest the closest valid key; `--set KEY=VALUE` overrides any key.
`datasets.<name>`: the name says the phase (`train`, `val`, `val_2`, `test_1`, ...).
"""


def reference_page():
    return PAGE_HEADER + "\n" + option_reference() + "\n\n" + registered_names() + "\n"


if __name__ == "__main__":
    print(reference_page(), end="")
