# Generated from exercises/masters/03_batchnorm_algorithm.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex2_identity"
points = None

@test_case(points=1, hidden=False)
def test_chapter_batch(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'identity_parameters')
    x = np.array([[1.0, 10.0, 101.0], [2.0, 20.0, 102.0], [3.0, 30.0, 103.0], [4.0, 40.0, 104.0], [5.0, 50.0, 105.0]])
    case = "case 1: the chapter's batch, shape (5, 3), epsilon=1e-3"
    got = g.call(f, x, 0.001, case=case, name='identity_parameters', arg_names=['x', 'epsilon'], forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise g.ExerciseFailure(f'{case}: expected a pair (gamma, beta), got {g.describe(got)}')
    gamma = g.check_shape(got[0], 3, case=case, name='gamma')
    beta = g.check_shape(got[1], 3, case=case, name='beta')
    y = bnlib.batch_norm_forward(x, gamma, beta, 0.001)[0]
    g.check_array(y, x, case=case, name='batch_norm_forward(x, gamma, beta)', rtol=1e-09, atol=1e-09, hint='which scale undoes the division by sqrt(variance + epsilon), which shift undoes the subtraction of the mean?')

@test_case(points=1, hidden=True)
def test_other_batches(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'identity_parameters')
    rng = np.random.default_rng(35)
    for shape, eps in [((8, 6), 1e-05), ((3, 2), 0.5)]:
        x = rng.normal(size=shape) * rng.uniform(0.01, 5.0, size=shape[1]) + rng.normal(size=shape[1]) * 10
        case = f'case 2: x of shape {shape} (read-only), epsilon={eps}'
        got = g.call(f, x, eps, case=case, name='identity_parameters', arg_names=['x', 'epsilon'], readonly=True, forbid=g.bnlib_functions())
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise g.ExerciseFailure(f'{case}: expected a pair (gamma, beta), got {g.describe(got)}')
        gamma = g.check_shape(got[0], shape[1], case=case, name='gamma')
        beta = g.check_shape(got[1], shape[1], case=case, name='beta')
        y = bnlib.batch_norm_forward(x, gamma, beta, eps)[0]
        g.check_array(y, x, case=case, name='batch_norm_forward(x, gamma, beta)', rtol=1e-09, atol=1e-09)

