# Generated from exercises/masters/05_inference.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex3_evaluation_mode"
points = None

@test_case(points=1, hidden=False)
def test_outputs(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'predict_fixed')
    layer = bnlib.BatchNorm()
    layer.build((1, 4), np.float64)
    layer.gamma, layer.beta = (np.array([2.0, 1.0, 0.5, 1.5]), np.array([0.5, -1.0, 0.0, 2.0]))
    layer.moving_mean, layer.moving_variance = (np.array([3.0, -1.0, 0.5, 10.0]), np.array([4.0, 0.25, 1.0, 9.0]))
    x = np.random.default_rng(55).normal(loc=layer.moving_mean, size=(5, 4))
    expected = bnlib.batch_norm_inference(x, layer.moving_mean, layer.moving_variance, layer.gamma, layer.beta, layer.epsilon)
    case = 'case 1: five examples, the layer of the exercise'
    got = g.call(f, layer, x, case=case, name='predict_fixed', arg_names=['layer', 'x'])
    g.check_array(got, expected, case=case, name='predict_fixed(layer, x)', hint="at evaluation, normalize with the moving statistics, not the batch's")

@test_case(points=1, hidden=True)
def test_independent_and_pure(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'predict_fixed')
    layer = bnlib.BatchNorm()
    layer.build((1, 3), np.float64)
    layer.gamma, layer.beta = (np.array([1.0, -2.0, 0.3]), np.array([0.0, 1.0, -1.0]))
    layer.moving_mean, layer.moving_variance = (np.array([-5.0, 0.0, 2.0]), np.array([1.0, 16.0, 0.01]))
    x = np.random.default_rng(56).normal(size=(9, 3)) * 3
    expected = bnlib.batch_norm_inference(x, layer.moving_mean, layer.moving_variance, layer.gamma, layer.beta, layer.epsilon)
    for rows in [slice(0, 1), slice(0, 9), slice(4, 6)]:
        case = f'case 2: examples {rows.start} to {rows.stop - 1} alone, read-only, the layer must not change'
        got = g.call(f, layer, x[rows], case=case, name='predict_fixed', arg_names=['layer', 'x'], readonly=True)
        g.check_array(got, expected[rows], case=case, name='predict_fixed(layer, x)')

@test_case(points=1, hidden=True)
def test_answers(env):
    from bncourse import guards as g
    if g.answer(env, 'moving_mean_changed', kind='bool') is not True:
        raise g.ExerciseFailure('moving_mean_changed is not right')
    g.check_number(g.answer(env, 'output_batch_of_one'), 0.5, name='output_batch_of_one', atol=1e-06, reveal=False)

