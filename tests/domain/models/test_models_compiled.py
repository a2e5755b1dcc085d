"""CompiledModel validation and pymdp-style arrays (``compile_arrays``)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from freeagentics.domain.models import (
    CompiledModel,
    ModelCaps,
    ModelValidationError,
    compile_arrays,
    enumerate_policies,
    transition_table,
)


def random_model_arrays(seed: int) -> dict[str, list[np.ndarray]]:
    """Two factors (3 states x 2 actions, 2 states uncontrolled), two modalities, pymdp shapes."""
    rng = np.random.default_rng(seed)

    def norm(x: np.ndarray) -> np.ndarray:
        return x / x.sum(axis=0, keepdims=True)

    return {
        "A": [norm(rng.random((4, 3, 2))), norm(rng.random((2, 3, 2)))],
        "B": [norm(rng.random((3, 3, 2))), norm(rng.random((2, 2, 1)))],
        "C": [rng.normal(size=4), rng.normal(size=2)],
        "D": [norm(rng.random(3)), norm(rng.random(2))],
    }


def issues_of(**kwargs: object) -> list[dict[str, object]]:
    with pytest.raises(ModelValidationError) as info:
        compile_arrays(**kwargs)  # type: ignore[arg-type]
    return info.value.as_dicts()


def test_pymdp_arrays_compile_with_pymdp_defaults() -> None:
    arrays = random_model_arrays(0)

    model = compile_arrays(A=arrays["A"], B=arrays["B"])

    assert model.A_factor_list == ((0, 1), (0, 1))
    assert model.control_factors == (0,)  # factors with more than one action, as pymdp
    np.testing.assert_array_equal(model.C[0], np.zeros(4))
    np.testing.assert_allclose(model.D[0], np.full(3, 1 / 3))
    assert model.E is None
    assert model.num_policies == 2
    np.testing.assert_array_equal(model.A[0], arrays["A"][0])


def test_tensors_are_copied_and_read_only() -> None:
    arrays = random_model_arrays(1)

    model = compile_arrays(**arrays)  # type: ignore[arg-type]

    assert arrays["A"][0].flags.writeable  # the caller's array is untouched
    with pytest.raises(ValueError, match="read-only"):
        model.A[0][0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        model.B[1][0, 0, 0] = 1.0


def test_nested_lists_and_legacy_object_arrays_are_accepted() -> None:
    arrays = random_model_arrays(2)
    legacy_A = np.empty(2, dtype=object)
    legacy_A[0], legacy_A[1] = arrays["A"]

    model = compile_arrays(A=legacy_A, B=[b.tolist() for b in arrays["B"]], D=arrays["D"])  # type: ignore[arg-type]

    np.testing.assert_array_equal(model.B[0], arrays["B"][0])
    np.testing.assert_array_equal(model.A[1], arrays["A"][1])


@pytest.mark.parametrize(
    ("edit", "loc", "type_"),
    [
        (lambda a: a["A"][1].__setitem__((0, 2, 1), a["A"][1][0, 2, 1] + 0.1), ["A", 1], "not_normalised"),
        (lambda a: a["A"][0].__setitem__((1, 0, 0), np.nan), ["A", 0], "not_finite"),
        (lambda a: a["B"][0].__setitem__((0, 1, 1), -1.0), ["B", 0], "negative"),
        (lambda a: a["B"].__setitem__(0, a["B"][0][:, :2]), ["B", 0], "shape_mismatch"),
        (lambda a: a["B"].__setitem__(1, np.ones((2, 2))), ["B", 1], "shape_mismatch"),
        (lambda a: a["A"].__setitem__(0, a["A"][0][:, :2]), ["A", 0], "shape_mismatch"),
        (lambda a: a["C"].__setitem__(1, np.array([0.0, np.inf])), ["C", 1], "not_finite"),
        (lambda a: a["C"].__setitem__(1, np.zeros(3)), ["C", 1], "shape_mismatch"),
        (lambda a: a["D"].__setitem__(0, np.array([0.5, 0.5, 0.5])), ["D", 0], "not_normalised"),
        (lambda a: a["D"].__setitem__(1, np.array(["a", "b"])), ["D", 1], "not_numeric"),
        (lambda a: a["D"].pop(), ["D"], "shape_mismatch"),
        (lambda a: a["A"].__setitem__(0, np.ones((4, 3, 2), dtype=bool)), ["A", 0], "not_numeric"),
        (lambda a: a["A"].__setitem__(1, [[[0.5, 0.5]] * 3, [[0.5, 0.5]] * 2]), ["A", 1], "ragged"),
    ],
)
def test_malformed_arrays_are_rejected_naming_the_tensor(edit: object, loc: list[object], type_: str) -> None:
    arrays = random_model_arrays(3)
    edit(arrays)  # type: ignore[operator]

    issues = issues_of(**arrays)

    assert any(i["loc"] == loc and i["type"] == type_ for i in issues), issues


def test_dependency_lists_and_control_factors_are_checked() -> None:
    arrays = random_model_arrays(4)
    assert any(
        i["loc"] == ["A_factor_list", 0, 1] for i in issues_of(**arrays, A_factor_list=[[0, 5], [0, 1]])
    )
    assert any(
        i["loc"] == ["A_factor_list", 0, 1] for i in issues_of(**arrays, A_factor_list=[[1, 0], [0, 1]])
    )
    assert any(i["loc"] == ["control_factors", 0] for i in issues_of(**arrays, control_fac_idx=[2]))
    # pymdp would still enumerate the actions of a factor left out of control_fac_idx: refused.
    assert any(i["loc"] == ["control_factors"] for i in issues_of(**arrays, control_fac_idx=[]))

    arrays["A"][0] = arrays["A"][0][:, :, 0]
    model = compile_arrays(**arrays, A_factor_list=[[0], [0, 1]])  # type: ignore[arg-type]
    assert model.A_factor_list == ((0,), (0, 1))


def test_dirichlet_counts_may_skip_modalities_and_must_match_shapes() -> None:
    arrays = random_model_arrays(5)

    model = compile_arrays(**arrays, pA=[None, 2.0 * arrays["A"][1]])  # type: ignore[arg-type]
    assert model.pA is not None
    assert model.pA[0] is None

    issues = issues_of(**arrays, pB=[np.ones((3, 3, 1)), None])
    assert any(i["loc"] == ["pB", 0] and i["type"] == "shape_mismatch" for i in issues)
    issues = issues_of(**arrays, pD=[np.array([1.0, -1.0, 1.0]), None])
    assert any(i["loc"] == ["pD", 0] and i["type"] == "negative" for i in issues)


def test_policies_and_E_are_checked() -> None:
    arrays = random_model_arrays(6)
    policies = np.array([[[0, 0]], [[1, 0]], [[1, 0]]])
    model = compile_arrays(**arrays, policies=policies, E=np.array([0.2, 0.3, 0.5]))  # type: ignore[arg-type]
    assert model.num_policies == 3

    assert any(i["loc"] == ["E"] for i in issues_of(**arrays, E=np.array([0.5, 0.6])))
    bad = np.array([[[0, 0]], [[2, 0]]])
    issue = next(i for i in issues_of(**arrays, policies=bad) if i["loc"] == ["policies"])
    assert issue["type"] == "out_of_range"
    assert issue["index"] == [1, 0, 0]


@pytest.mark.parametrize(
    "caps",
    [
        ModelCaps(max_states_per_factor=2),
        ModelCaps(max_observations_per_modality=3),
        ModelCaps(max_factors=1),
        ModelCaps(max_modalities=1),
        ModelCaps(max_policies=1),
        ModelCaps(max_tensor_bytes=64),
    ],
)
def test_arrays_over_caps_are_refused(caps: ModelCaps) -> None:
    issues = issues_of(**random_model_arrays(7), caps=caps)

    assert issues
    assert all(i["type"] == "too_large" for i in issues)


def test_model_constructed_directly_is_validated() -> None:
    with pytest.raises(ModelValidationError, match=r"B\[0\]"):
        CompiledModel(
            A=(np.eye(2),),
            B=(np.ones((2, 2, 1)),),
            C=(np.zeros(2),),
            D=(np.array([0.5, 0.5]),),
            A_factor_list=((0,),),
            control_factors=(),
        )
    with pytest.raises(ModelValidationError, match="state_names"):
        CompiledModel(
            A=(np.eye(2),),
            B=(np.eye(2)[:, :, None],),
            C=(np.zeros(2),),
            D=(np.array([0.5, 0.5]),),
            A_factor_list=((0,),),
            control_factors=(),
            state_names=(("same", "same"),),
        )


def test_policy_enumeration_matches_pymdp_order() -> None:
    table = enumerate_policies([3, 1, 2], [0, 2], policy_len=2)

    assert table.shape == (36, 2, 3)
    expected = list(itertools.product(range(3), [0], range(2), range(3), [0], range(2)))
    np.testing.assert_array_equal(table.reshape(36, 6), expected)


@pytest.mark.parity
def test_policy_enumeration_equals_pymdp_construct_policies() -> None:
    control = pytest.importorskip("pymdp.legacy.control")

    ours = enumerate_policies([4, 1, 3], [0, 2], policy_len=2)
    theirs = np.array(control.construct_policies([5, 2, 3], [4, 1, 3], 2, [0, 2]))

    np.testing.assert_array_equal(ours, theirs)


def test_transition_table_recovers_deterministic_transitions() -> None:
    B = np.zeros((3, 3, 2))
    B[[1, 2, 0], [0, 1, 2], 0] = 1.0
    B[:, :, 1] = np.eye(3)

    np.testing.assert_array_equal(transition_table(B), [[1, 0], [2, 1], [0, 2]])
    assert transition_table(np.full((2, 2, 1), 0.5)) is None


def test_integers_too_large_for_a_float_are_rejected_not_crashed() -> None:
    for A in ([[[10**400, 0]]], [[[10**400, "a"]]]):
        issues = issues_of(A=A, B=[[[[1.0]]]])
        assert issues[0]["loc"] == ["A", 0]
        assert issues[0]["type"] == "not_finite"
