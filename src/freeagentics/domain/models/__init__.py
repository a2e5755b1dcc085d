"""Generative models: the compiled interchange format, declarative specs, validation and built-in templates.

Public API:

- :class:`CompiledModel` — the engine's input (pymdp list-of-arrays form), validated on construction.
- :func:`compile_arrays` — pymdp users' own ``A``/``B``/``C``/``D``/... arrays to a ``CompiledModel``.
- :func:`spec_from_mapping`, :func:`compile_spec`, :func:`compile_mapping`, :func:`spec_to_mapping`,
  :func:`spec_from_compiled` — JSON/YAML model documents (already parsed into mappings) to and from models.
- :class:`ModelCaps` — size limits; :class:`ModelValidationError` — one exception with every
  :class:`ValidationIssue` (``loc``, ``msg``, ``type``, ``index``).
- :data:`TEMPLATES`, :func:`get_template`, :func:`describe_templates` and the template functions
  :func:`grid_explorer`, :func:`resource_collector`, :func:`tmaze`.
"""

from freeagentics.domain.models.compiled import (
    CompiledModel,
    compile_arrays,
    count_policies,
    enumerate_policies,
    transition_table,
)
from freeagentics.domain.models.errors import ModelValidationError, ValidationIssue, format_loc
from freeagentics.domain.models.spec import (
    DirichletSpec,
    FactorSpec,
    ModalitySpec,
    ModelSpec,
    compile_mapping,
    compile_spec,
    spec_from_compiled,
    spec_from_mapping,
    spec_to_mapping,
)
from freeagentics.domain.models.templates import (
    TEMPLATES,
    Template,
    TemplateParameter,
    describe_templates,
    get_template,
    grid_explorer,
    resource_collector,
    tmaze,
)
from freeagentics.domain.models.validation import DEFAULT_CAPS, SUM_TOLERANCE, ModelCaps

__all__ = [
    "DEFAULT_CAPS",
    "SUM_TOLERANCE",
    "TEMPLATES",
    "CompiledModel",
    "DirichletSpec",
    "FactorSpec",
    "ModalitySpec",
    "ModelCaps",
    "ModelSpec",
    "ModelValidationError",
    "Template",
    "TemplateParameter",
    "ValidationIssue",
    "compile_arrays",
    "compile_mapping",
    "compile_spec",
    "count_policies",
    "describe_templates",
    "enumerate_policies",
    "format_loc",
    "get_template",
    "grid_explorer",
    "resource_collector",
    "spec_from_compiled",
    "spec_from_mapping",
    "spec_to_mapping",
    "tmaze",
    "transition_table",
]
