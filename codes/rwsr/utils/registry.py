"""Names and import paths of networks and losses: the one mechanism behind `network_G.which_model_G`,
`network_D.which_model_D` and `train.losses[].type`.

A name is either registered (the tables rwsr.archs.registry and rwsr.losses.registry, next to the
classes they name) or an import path `module:Class` of the user's own code. A module is imported only
when the caller allows it by name (`plugins`): the modules an option file names itself, or those given
with `--plugin`. A weight file's metadata alone never imports anything. Keyword arguments are checked
against the class's constructor, so a misspelt key is a one-line option error naming the class.
"""
import difflib
import importlib
import inspect
import os
import sys
from dataclasses import dataclass, field

from .errors import OptionError


def is_import_path(name):
    """True for `module:Class` (the module may be dotted)."""
    return isinstance(name, str) and ":" in name


def plugin_module(name):
    """The module part of an import path (`my_nets` for `my_nets:TinyNet`)."""
    return name.split(":", 1)[0]


def _allowed(module, plugins):
    """A module may be imported when it, or a package above it, is named in plugins."""
    parts = module.split(".")
    return any(".".join(parts[:depth]) in plugins for depth in range(1, len(parts) + 1))


def import_class(name, option, plugins=(), search_dirs=()):
    """The class `Class` of `module:Class`; the module must be allowed by plugins.

    search_dirs (e.g. the option file's folder) are tried before PYTHONPATH and the current directory
    after it, for this import only.
    """
    module_name, _, class_name = name.partition(":")
    if not module_name or not class_name or not class_name.isidentifier():
        raise OptionError(f"{option}: {name!r} is not an import path; write module:Class, e.g. my_nets:TinyNet")
    if not _allowed(module_name, tuple(plugins)):
        raise OptionError(f"{option}: {name} comes from the module {module_name}, which is imported only when "
                          f"allowed: pass --plugin {module_name} (or list it under plugins: in the option file); "
                          "nothing was imported")
    dirs = [os.path.abspath(d) for d in search_dirs if d]
    saved_path = list(sys.path)
    sys.path[:0] = [d for d in dirs if d not in sys.path]
    sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            where = ", ".join(dirs + ["PYTHONPATH", "the current directory"])
            raise OptionError(f"{option}: cannot import the module {module_name} of {name} "
                              f"(looked in {where})") from None
        raise OptionError(f"{option}: importing {module_name} failed: {err}") from None
    except Exception as err:  # the user's module raised while importing: say so in one line
        raise OptionError(f"{option}: importing {module_name} failed: {type(err).__name__}: {err}") from None
    finally:
        sys.path[:] = saved_path
    cls = getattr(module, class_name, None)
    if cls is None:
        raise OptionError(f"{option}: the module {module_name} ({getattr(module, '__file__', '?')}) has no "
                          f"{class_name}")
    if not inspect.isclass(cls):
        raise OptionError(f"{option}: {name} is not a class")
    return cls


@dataclass(frozen=True)
class Argument:
    """One keyword argument of a constructor, for checks and the option reference."""

    name: str
    default: object = inspect.Parameter.empty

    @property
    def required(self):
        return self.default is inspect.Parameter.empty


def constructor_arguments(cls):
    """(keyword arguments of cls's constructor, whether it also takes **kwargs)."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return [], True
    named = [Argument(p.name, p.default) for p in parameters
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    return named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def check_arguments(cls, label, kwargs, where):
    """Raise a one-line OptionError when kwargs do not fit cls's constructor (unknown or missing keys).

    label names the class in the message (its registered name or import path); where is the option
    section the keys live in (`network_G`, `train.losses[0]`).
    """
    arguments, takes_any = constructor_arguments(cls)
    names = [argument.name for argument in arguments]
    listing = ", ".join(names) or "none"
    if not takes_any:
        for key in kwargs:
            if key not in names:
                close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
                hint = f"did you mean {close[0]}? " if close else ""
                raise OptionError(f"{where}.{key}: {label} takes no argument {key}; {hint}its keyword arguments: "
                                  f"{listing}")
    missing = [argument.name for argument in arguments if argument.required and argument.name not in kwargs]
    if missing:
        raise OptionError(f"{where}.{missing[0]}: required by {label} (its keyword arguments: {listing})")


@dataclass
class Registry:
    """Registered names of one kind (generator, discriminator, loss) and the classes they stand for."""

    kind: str
    option: str  # the option key that names an entry, for messages
    entries: dict = field(default_factory=dict)

    def names(self):
        return tuple(self.entries)

    def resolve(self, name, plugins=(), search_dirs=()):
        """(class, label) for a registered name or an allowed import path."""
        if name in self.entries:
            return self.entries[name], name
        if is_import_path(name):
            return import_class(name, self.option, plugins, search_dirs), name
        close = difflib.get_close_matches(str(name), self.names(), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise OptionError(f"{self.option}: unknown {self.kind} {name!r}; registered: {', '.join(self.names())}, or an "
                          f"import path module:Class of your own code{hint}")

    def build(self, name, kwargs, where, plugins=(), search_dirs=()):
        """An instance of the named class, its keyword arguments checked first."""
        cls, label = self.resolve(name, plugins, search_dirs)
        check_arguments(cls, label, kwargs, where)
        return cls(**kwargs)
