# Generated from exercises/masters/04_backward_pass.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex1_compact_backward"
points = None

@test_case(points=1, hidden=False)
def test_small(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'bn_backward')
    rng = np.random.default_rng(401)
    x = rng.normal(loc=1.0, scale=2.0, size=(8, 5))
    gamma, dout = (rng.normal(size=5), rng.normal(size=(8, 5)))
    expected = bnlib.batch_norm_backward(dout, bnlib.batch_norm_forward(x, gamma, np.zeros(5), 0.001)[1])
    case = 'case 1: x and a random dout of shape (8, 5), epsilon=1e-3'
    got = g.call(f, dout, x, gamma, 0.001, case=case, name='bn_backward', arg_names=['dout', 'x', 'gamma', 'epsilon'], forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 3):
        raise g.ExerciseFailure(f'{case}: expected the tuple (dx, dgamma, dbeta), got {g.describe(got)}')
    for name, value, want in zip(['dx', 'dgamma', 'dbeta'], got, expected):
        g.check_array(value, want, case=case, name=name, rtol=1e-06, atol=1e-09)

@test_case(points=1, hidden=True)
def test_dx_shapes(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'bn_backward')
    rng = np.random.default_rng(402)
    for shape in [(3, 7), (64, 2)]:
        x = rng.normal(loc=-2.0, scale=3.0, size=shape)
        gamma, dout = (np.ones(shape[1]), rng.normal(size=shape))
        expected = bnlib.batch_norm_backward(dout, bnlib.batch_norm_forward(x, gamma, np.zeros(shape[1]), 0.001)[1])[0]
        case = f'case 2: dx for x of shape {shape}, gamma = 1'
        got = g.call(f, dout, x, gamma, 0.001, case=case, name='bn_backward', arg_names=['dout', 'x', 'gamma', 'epsilon'], forbid=g.bnlib_functions())
        if not (isinstance(got, (tuple, list)) and len(got) == 3):
            raise g.ExerciseFailure(f'{case}: expected the tuple (dx, dgamma, dbeta), got {g.describe(got)}')
        g.check_array(got[0], expected, case=case, name='dx', rtol=1e-06, atol=1e-09, hint='three terms: inv_std * (g - mean(g) - x_hat * mean(g * x_hat)), means over axis 0')

@test_case(points=1, hidden=True)
def test_parameters(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'bn_backward')
    rng = np.random.default_rng(403)
    x = rng.normal(loc=5.0, scale=0.5, size=(16, 3))
    gamma, dout = (np.array([3.0, -0.5, 0.01]), rng.normal(size=(16, 3)))
    expected = bnlib.batch_norm_backward(dout, bnlib.batch_norm_forward(x, gamma, np.zeros(3), 0.1)[1])
    case = 'case 3: gamma = [3, -0.5, 0.01], epsilon=0.1'
    got = g.call(f, dout, x, gamma, 0.1, case=case, name='bn_backward', arg_names=['dout', 'x', 'gamma', 'epsilon'], forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 3):
        raise g.ExerciseFailure(f'{case}: expected the tuple (dx, dgamma, dbeta), got {g.describe(got)}')
    for name, value, want in zip(['dx', 'dgamma', 'dbeta'], got, expected):
        g.check_array(value, want, case=case, name=name, rtol=1e-06, atol=1e-09, hint='g = gamma * dout; dgamma = sum(dout * x_hat), dbeta = sum(dout), over axis 0; use epsilon')

@test_case(points=1, hidden=True)
def test_pure(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'bn_backward')
    rng = np.random.default_rng(404)
    x = rng.normal(size=(6, 4))
    gamma, dout = (rng.normal(size=4), rng.normal(size=(6, 4)))
    expected = bnlib.batch_norm_backward(dout, bnlib.batch_norm_forward(x, gamma, np.zeros(4), 0.001)[1])
    case = 'case 4: dout, x and gamma are read-only'
    got = g.call(f, dout, x, gamma, 0.001, case=case, name='bn_backward', arg_names=['dout', 'x', 'gamma', 'epsilon'], readonly=True, forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 3):
        raise g.ExerciseFailure(f'{case}: expected the tuple (dx, dgamma, dbeta), got {g.describe(got)}')
    for name, value, want in zip(['dx', 'dgamma', 'dbeta'], got, expected):
        g.check_array(value, want, case=case, name=name, rtol=1e-06, atol=1e-09)

