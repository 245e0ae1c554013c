"""SCIP, the copy bundled in the OR-Tools wheel, through MathOpt (``SolverType.GSCIP``).

The model goes to MathOpt as a ``ModelProto`` filled from the CSR arrays of the
:class:`~designsvc.core.linear.LinearForm` and is handed to MathOpt's solve entry point
(``ortools.math_opt.core.python.solver.solve``, which ``mathopt.solve`` wraps) together with
the parameter protos. This skips the Python ``mathopt.Model``: for 100,000 columns, 2,000
rows and 200,000 nonzeros, filling the proto takes about 0.03 s where per-term Python calls
took 1.1 s, and reading the solution from the result proto with numpy takes 0.01 s where
``mathopt.solve`` spends 0.15 s parsing it into per-variable dictionaries (and 0.07 s
re-exporting the model). Progress callbacks ask for no variable values at all.

Objective and bound are those of the minimized form (``c @ x + offset``; the offset is the
``ModelProto`` objective offset, which MathOpt includes in its values). SCIP runs on one
thread here: MathOpt's ``threads`` parameter is not set (it fails for GSCIP).

Backend options are SCIP parameters by their SCIP names (``{"limits/nodes": 1000,
"display/verblevel": 0}``), passed through ``GScipParameters``. Names, types and ranges are
checked against SCIP's own parameter table, read once per process from the bundled
``libscip`` through ``ctypes``; where that library cannot be loaded, only the form of the name
and the Python type of the value are checked, and an ``int`` goes to SCIP as an ``int``
parameter (a ``longint`` one then fails at solve time with an error result).

Known nuisance: whenever an interrupter or a callback is attached (here: always, for cancel),
gSCIP prints two lines on the C-level stderr, ``ERROR: SCIPcatchEvent does not support variable
or row change events...`` and ``Error <-9> in function call``. The solve, the interrupt and the
callbacks work regardless; no registration avoids it (measured with OR-Tools 9.15, SCIP 10.0).
"""

from __future__ import annotations

import ctypes
import datetime
import math
import re
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from designsvc.core.cancel import CancelToken
from designsvc.core.linear import FloatArray, LinearForm
from designsvc.core.solver import BackendResult, Capabilities, ProgressReporter, Solver
from designsvc.core.types import SolutionStatus, SolverConfig, Termination

__all__ = ["ScipParameter", "ScipSolver", "scip_parameters"]

# SCIP parameters that SolverConfig sets (gSCIP would let them override the config).
_CONFIG_PARAMETERS = {
    "limits/time": "time_limit_s",
    "limits/gap": "rel_gap",
    "randomization/randomseedshift": "seed",
}
_NAME = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)+")
_SEED_MAX = 2**31 - 1


@dataclass(frozen=True)
class ScipParameter:
    """One SCIP parameter: ``kind`` is ``bool``, ``int``, ``longint``, ``real``, ``char`` or
    ``string`` (SCIP's own type names); ``low``/``high`` the range of numeric ones;
    ``allowed`` the characters a ``char`` one takes (None: any)."""

    kind: str
    low: float | None = None
    high: float | None = None
    allowed: str | None = None


_KINDS = ("bool", "int", "longint", "real", "char", "string")
_table_lock = threading.Lock()


@cache
def _scip_version() -> str:
    from ortools.linear_solver import pywraplp

    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:  # pragma: no cover - SCIP is in every OR-Tools wheel we pin
        return "SCIP (unknown version)"
    text = str(solver.SolverVersion())
    return text if text.startswith("SCIP") else f"SCIP {text}"


class ScipSolver(Solver):
    """SCIP 10 (branch and cut with SoPlex), single-threaded, from the OR-Tools wheel."""

    name: ClassVar[str] = "scip"
    backend_module: ClassVar[str] = "ortools"
    capabilities: ClassVar[Capabilities] = Capabilities(
        continuous=True,
        integer=True,
        unbounded_variables=True,
        warm_start=True,
        cancel=True,
        progress=True,
        max_threads=1,
    )

    @classmethod
    def version(cls) -> str:
        return _scip_version()

    def validate_options(self, options: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` for an unknown SCIP parameter, one the config sets
        (``limits/time``, ``limits/gap``, ``randomization/randomseedshift``), or a value of the
        wrong type or out of range."""
        _gscip_parameters(options)

    def _solve(
        self,
        form: LinearForm,
        config: SolverConfig,
        *,
        warm_start: FloatArray | None,
        on_progress: ProgressReporter | None,
        cancel_token: CancelToken,
    ) -> BackendResult:
        from ortools.math_opt import callback_pb2, parameters_pb2
        from ortools.math_opt.core.python import solver as math_opt_solver
        from ortools.util.python import pybind_solve_interrupter
        from pybind11_abseil.status import StatusNotOk  # type: ignore[import-untyped]

        empty = _empty_bounds(form)
        if empty:
            return BackendResult(Termination.INFEASIBLE, SolutionStatus.NONE, message=empty)

        params = parameters_pb2.SolveParametersProto()
        params.time_limit.FromTimedelta(datetime.timedelta(seconds=config.time_limit_s))
        params.relative_gap_tolerance = float(config.rel_gap)
        params.random_seed = min(int(config.seed), _SEED_MAX)
        params.enable_output = False
        if config.options:
            params.gscip.CopyFrom(_gscip_parameters(config.options))

        registration = callback_pb2.CallbackRegistrationProto()
        callback: Callable[[Any], Any] | None = None
        if on_progress is not None and form.is_mip:
            objective_cols = np.flatnonzero(form.c)
            registration.request_registration.append(callback_pb2.CALLBACK_EVENT_MIP_SOLUTION)
            registration.mip_solution_filter.filter_by_ids = True
            registration.mip_solution_filter.filtered_ids.extend(objective_cols.tolist())
            callback = _progress_callback(on_progress, form)

        model = _model_proto(form)
        model_parameters = _model_parameters(form, warm_start)
        interrupter = pybind_solve_interrupter.PySolveInterrupter()
        # A token cancelled already interrupts at once, and SCIP then returns without solving.
        unregister = cancel_token.on_cancel(interrupter.interrupt)
        try:
            result = math_opt_solver.solve(
                model,
                parameters_pb2.SOLVER_TYPE_GSCIP,
                parameters_pb2.SolverInitializerProto(),
                params,
                model_parameters,
                None,
                registration,
                callback,
                interrupter,
            )
        except StatusNotOk as exc:
            return BackendResult(Termination.ERROR, SolutionStatus.NONE, message=f"MathOpt/SCIP: {exc}")
        finally:
            unregister()
        return _result(result, form, cancel_token)


def _progress_callback(reporter: ProgressReporter, form: LinearForm) -> Callable[[Any], Any]:
    """A MathOpt callback for ``MIP_SOLUTION`` events, which gSCIP raises for every solution
    found, improving or not. Its ``mip_stats.primal_bound`` is the best objective *before*
    that solution, so the incumbent is the lesser of it and the new solution's objective,
    computed from the values of the objective's columns (the only ones requested). The
    incumbent reported never gets worse (the recomputed objective may differ from SCIP's in
    the last bits)."""
    from ortools.math_opt import callback_pb2

    c, offset = form.c, float(form.offset)
    best = math.inf

    def report(data: Any) -> Any:
        nonlocal best
        best = min(best, float(data.mip_stats.primal_bound))
        if data.HasField("primal_solution_vector"):
            vector = data.primal_solution_vector
            ids = np.asarray(vector.ids, dtype=np.int64)
            best = min(best, float(c[ids] @ np.asarray(vector.values, dtype=np.float64)) + offset)
        reporter.report(best, data.mip_stats.dual_bound)
        return callback_pb2.CallbackResultProto()

    return report


def _empty_bounds(form: LinearForm) -> str:
    """A message naming a column or row whose lower bound exceeds its upper one ("" when
    none does); MathOpt refuses such models instead of calling them infeasible."""
    bad = np.flatnonzero(form.col_lower > form.col_upper)
    if len(bad):
        j = int(bad[0])
        return f"column {form.column_name(j)} has bounds ({form.col_lower[j]}, {form.col_upper[j]})"
    bad = np.flatnonzero(form.row_lower > form.row_upper)
    if len(bad):
        i = int(bad[0])
        return f"row {form.row_names[i]} has bounds ({form.row_lower[i]}, {form.row_upper[i]})"
    return ""


def _model_proto(form: LinearForm) -> Any:
    """The form as a MathOpt ``ModelProto`` (minimize; ids are column and row indices)."""
    from ortools.math_opt import model_pb2

    A = form.A
    if not A.has_canonical_format or not bool(np.all(A.data != 0)):
        A = A.copy()
        A.sum_duplicates()  # also sorts each row's columns, as MathOpt requires
        A.eliminate_zeros()
    n, m = form.num_cols, form.num_rows

    model = model_pb2.ModelProto()
    variables = model.variables
    variables.ids.extend(range(n))
    variables.lower_bounds.extend(form.col_lower.tolist())
    variables.upper_bounds.extend(form.col_upper.tolist())
    variables.integers.extend(form.integer.tolist())

    objective = model.objective
    objective.maximize = False
    objective.offset = float(form.offset)
    nonzero = np.flatnonzero(form.c)
    objective.linear_coefficients.ids.extend(nonzero.tolist())
    objective.linear_coefficients.values.extend(form.c[nonzero].tolist())

    rows = model.linear_constraints
    rows.ids.extend(range(m))
    rows.lower_bounds.extend(form.row_lower.tolist())
    rows.upper_bounds.extend(form.row_upper.tolist())
    matrix = model.linear_constraint_matrix
    matrix.row_ids.extend(np.repeat(np.arange(m), np.diff(A.indptr)).tolist())
    matrix.column_ids.extend(A.indices.tolist())
    matrix.coefficients.extend(A.data.tolist())
    return model


def _model_parameters(form: LinearForm, warm_start: FloatArray | None) -> Any:
    """``ModelSolveParametersProto`` with the warm start as a (partial) solution hint:
    integer columns rounded, every value clipped to its column's bounds."""
    from ortools.math_opt import model_parameters_pb2

    parameters = model_parameters_pb2.ModelSolveParametersProto()
    if warm_start is None:
        return parameters
    given = np.flatnonzero(np.isfinite(warm_start))
    if not len(given):
        return parameters
    values = warm_start[given]
    values = np.where(form.integer[given], np.round(values), values)
    values = np.clip(values, form.col_lower[given], form.col_upper[given])
    hint = parameters.solution_hints.add()
    hint.variable_values.ids.extend(given.tolist())
    hint.variable_values.values.extend(values.tolist())
    return parameters


def _result(result: Any, form: LinearForm, cancel_token: CancelToken) -> BackendResult:
    from ortools.math_opt import result_pb2, solution_pb2

    termination = result.termination
    reason = termination.reason
    limit = termination.limit
    message = termination.detail or result_pb2.TerminationReasonProto.Name(reason).lower().replace(
        "termination_reason_", ""
    )
    by_reason = {
        result_pb2.TERMINATION_REASON_OPTIMAL: Termination.OPTIMAL,
        result_pb2.TERMINATION_REASON_INFEASIBLE: Termination.INFEASIBLE,
        result_pb2.TERMINATION_REASON_UNBOUNDED: Termination.UNBOUNDED,
        result_pb2.TERMINATION_REASON_INFEASIBLE_OR_UNBOUNDED: Termination.INFEASIBLE_OR_UNBOUNDED,
    }
    if reason in by_reason:
        status = by_reason[reason]
    elif reason in (result_pb2.TERMINATION_REASON_FEASIBLE, result_pb2.TERMINATION_REASON_NO_SOLUTION_FOUND):
        if limit == result_pb2.LIMIT_INTERRUPTED or cancel_token.cancelled:
            status = Termination.INTERRUPTED
        elif limit == result_pb2.LIMIT_TIME:
            status = Termination.TIME_LIMIT
        else:
            status = Termination.OTHER_LIMIT
    else:  # IMPRECISE, NUMERICAL_ERROR, OTHER_ERROR
        status = Termination.ERROR

    bound = _finite(termination.objective_bounds.dual_bound)
    if status in (Termination.INFEASIBLE, Termination.UNBOUNDED, Termination.INFEASIBLE_OR_UNBOUNDED):
        return BackendResult(status, SolutionStatus.NONE, message=message)
    primal = next(
        (
            s.primal_solution
            for s in result.solutions
            if s.HasField("primal_solution")
            and s.primal_solution.feasibility_status == solution_pb2.SOLUTION_STATUS_FEASIBLE
        ),
        None,
    )
    if primal is None:
        return BackendResult(status, SolutionStatus.NONE, bound=bound, message=message)
    values = np.zeros(form.num_cols)
    sparse_values = primal.variable_values
    values[np.asarray(sparse_values.ids, dtype=np.int64)] = np.asarray(sparse_values.values, dtype=np.float64)
    solution_status = SolutionStatus.OPTIMAL if status is Termination.OPTIMAL else SolutionStatus.FEASIBLE
    return BackendResult(status, solution_status, float(primal.objective_value), bound, values, message)


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) and abs(value) < 1e30 else None


# --- SCIP parameters -------------------------------------------------------------------


def scip_parameters() -> Mapping[str, ScipParameter] | None:
    """SCIP's parameter table (name -> :class:`ScipParameter`), read once per process from the
    bundled ``libscip`` (a throwaway SCIP instance with the default plugins, the set gSCIP
    creates); None when the library cannot be loaded."""
    with _table_lock:
        return _read_scip_parameters()


@cache
def _read_scip_parameters() -> Mapping[str, ScipParameter] | None:
    library = _scip_library()
    if library is None:
        return None
    try:
        lib = ctypes.CDLL(str(library))
        return _parameter_table(lib)
    except (OSError, AttributeError):
        return None


def _scip_library() -> Path | None:
    try:
        import ortools
    except ImportError:  # pragma: no cover - availability is checked first
        return None
    folder = Path(next(iter(ortools.__path__))) / ".libs"
    pattern = {"darwin": "libscip*.dylib", "win32": "scip*.dll"}.get(sys.platform, "libscip.so*")
    found = sorted(folder.glob(pattern))
    return found[0] if found else None


def _parameter_table(lib: ctypes.CDLL) -> dict[str, ScipParameter] | None:
    pointer = ctypes.c_void_p
    lib.SCIPcreate.argtypes = [ctypes.POINTER(pointer)]
    lib.SCIPcreate.restype = ctypes.c_int
    lib.SCIPfree.argtypes = [ctypes.POINTER(pointer)]
    lib.SCIPfree.restype = ctypes.c_int
    lib.SCIPincludeDefaultPlugins.argtypes = [pointer]
    lib.SCIPincludeDefaultPlugins.restype = ctypes.c_int
    lib.SCIPgetNParams.argtypes = [pointer]
    lib.SCIPgetNParams.restype = ctypes.c_int
    lib.SCIPgetParams.argtypes = [pointer]
    lib.SCIPgetParams.restype = ctypes.POINTER(pointer)
    for function, restype in (
        ("SCIPparamGetName", ctypes.c_char_p),
        ("SCIPparamGetType", ctypes.c_int),
        ("SCIPparamGetIntMin", ctypes.c_int),
        ("SCIPparamGetIntMax", ctypes.c_int),
        ("SCIPparamGetLongintMin", ctypes.c_longlong),
        ("SCIPparamGetLongintMax", ctypes.c_longlong),
        ("SCIPparamGetRealMin", ctypes.c_double),
        ("SCIPparamGetRealMax", ctypes.c_double),
        ("SCIPparamGetCharAllowedValues", ctypes.c_char_p),
    ):
        getattr(lib, function).argtypes = [pointer]
        getattr(lib, function).restype = restype

    scip = pointer()
    okay = 1  # SCIP_OKAY
    if lib.SCIPcreate(ctypes.byref(scip)) != okay:
        return None
    try:
        if lib.SCIPincludeDefaultPlugins(scip) != okay:
            return None
        params = lib.SCIPgetParams(scip)
        table: dict[str, ScipParameter] = {}
        for i in range(lib.SCIPgetNParams(scip)):
            param = params[i]
            kind = _KINDS[lib.SCIPparamGetType(param)]
            entry = ScipParameter(kind)
            if kind == "int":
                entry = ScipParameter(kind, lib.SCIPparamGetIntMin(param), lib.SCIPparamGetIntMax(param))
            elif kind == "longint":
                entry = ScipParameter(kind, lib.SCIPparamGetLongintMin(param), lib.SCIPparamGetLongintMax(param))
            elif kind == "real":
                entry = ScipParameter(kind, lib.SCIPparamGetRealMin(param), lib.SCIPparamGetRealMax(param))
            elif kind == "char":
                allowed = lib.SCIPparamGetCharAllowedValues(param)
                entry = ScipParameter(kind, allowed=None if allowed is None else allowed.decode())
            table[lib.SCIPparamGetName(param).decode()] = entry
        return table
    finally:
        lib.SCIPfree(ctypes.byref(scip))


def _gscip_parameters(options: Mapping[str, Any]) -> Any:
    """``options`` as a ``GScipParameters`` proto, each in the map of its SCIP type.

    Raises ``ValueError`` naming the first option that is unknown, set by the config, or of
    the wrong type or range.
    """
    from ortools.math_opt.solvers.gscip import gscip_pb2

    table = scip_parameters() if options else None
    message = gscip_pb2.GScipParameters()
    for key, value in options.items():
        known = (key in table) if table is not None else bool(_NAME.fullmatch(key))
        if not known:
            raise ValueError(f"unknown option {key!r} for solver scip")
        if key in _CONFIG_PARAMETERS:
            raise ValueError(f"option {key!r} for solver scip is set through SolverConfig.{_CONFIG_PARAMETERS[key]}")
        parameter = table[key] if table is not None else _guess(key, value)
        _check_value(key, value, parameter)
        target = {
            "bool": message.bool_params,
            "int": message.int_params,
            "longint": message.long_params,
            "real": message.real_params,
            "char": message.char_params,
            "string": message.string_params,
        }[parameter.kind]
        target[key] = float(value) if parameter.kind == "real" else value
    return message


def _guess(key: str, value: Any) -> ScipParameter:
    """The parameter type a value suggests, when SCIP's table is not at hand."""
    if isinstance(value, bool):
        return ScipParameter("bool")
    if isinstance(value, int):
        return ScipParameter("int", -(2**31), 2**31 - 1)
    if isinstance(value, float):
        return ScipParameter("real")
    if isinstance(value, str):
        return ScipParameter("char" if len(value) == 1 else "string")
    raise ValueError(f"option {key!r} for solver scip takes a bool, int, float or str, got {value!r}")


def _check_value(key: str, value: Any, parameter: ScipParameter) -> None:
    kind = parameter.kind
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind in ("int", "longint"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "real":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)
    elif kind == "char":
        ok = isinstance(value, str) and len(value) == 1
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ValueError(f"option {key!r} for solver scip is a SCIP {kind} parameter; got {value!r}")
    if parameter.low is not None and parameter.high is not None and not parameter.low <= value <= parameter.high:
        raise ValueError(
            f"option {key!r} for solver scip must lie in [{parameter.low}, {parameter.high}]; got {value!r}"
        )
    if kind == "char" and parameter.allowed and value not in parameter.allowed:
        raise ValueError(f"option {key!r} for solver scip takes one of {parameter.allowed!r}; got {value!r}")
