# Generated from exercises/masters/07_beyond_batch_norm.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex1_rms_norm"
points = None

@test_case(points=1, hidden=False)
def test_forward(env):
    import numpy as np
    from bncourse import guards as g
    f = g.function(env, 'rms_norm_forward')
    x = np.array([[3.0, 4.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 2.0], [-6.0, 8.0, 0.0]])
    gamma = np.array([1.0, 2.0, 0.5])
    case = 'case 1: x of shape (4, 3), epsilon=1e-3'
    got = g.call(f, x, gamma, 0.001, case=case, name='rms_norm_forward', arg_names=['x', 'gamma', 'epsilon'], forbid=g.bnlib_functions())
    s = np.sqrt(np.array([25 / 3, 1.0, 4 / 3, 100 / 3]) + 0.001)[:, None]
    g.check_array(got, gamma * x / s, case=case, name='y', hint='one root mean square per row, over the last axis, with no mean subtracted')

@test_case(points=1, hidden=True)
def test_forward_3d(env):
    import numpy as np
    from bncourse import guards as g
    f = g.function(env, 'rms_norm_forward')
    rng = np.random.default_rng(71)
    x = rng.normal(loc=2.0, size=(2, 3, 5))
    gamma = rng.normal(size=5)
    for eps in [0.001, 0.5]:
        case = f'case 2: x of shape (2, 3, 5), epsilon={eps}'
        got = g.call(f, x, gamma, eps, case=case, name='rms_norm_forward', arg_names=['x', 'gamma', 'epsilon'], forbid=g.bnlib_functions())
        g.check_array(got, gamma * x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + eps), case=case, name='y')

@test_case(points=1, hidden=False)
def test_backward(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'rms_norm_backward')
    rng = np.random.default_rng(72)
    x, gamma, dout = (rng.normal(size=(4, 6)), rng.normal(size=6), rng.normal(size=(4, 6)))
    forward = lambda t, gm=gamma: gm * t / np.sqrt(np.mean(t ** 2, axis=-1, keepdims=True) + 0.001)
    dx = bnlib.numerical_gradient(forward, x, dout)
    dgamma = bnlib.numerical_gradient(lambda gm: forward(x, gm), gamma, dout)
    case = 'case 3: x and a random dout of shape (4, 6)'
    got = g.call(f, dout, x, gamma, 0.001, case=case, name='rms_norm_backward', arg_names=['dout', 'x', 'gamma', 'epsilon'], forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise g.ExerciseFailure(f'{case}: expected the pair (dx, dgamma), got {g.describe(got)}')
    g.check_array(got[0], dx, case=case, name='dx', rtol=1e-05, atol=1e-08, hint='x reaches y directly and through s: dx = (g - x * mean(g * x) / s**2) / s with g = dout * gamma')
    g.check_array(got[1], dgamma, case=case, name='dgamma', rtol=1e-05, atol=1e-08)

@test_case(points=1, hidden=True)
def test_backward_3d_pure(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'rms_norm_backward')
    rng = np.random.default_rng(73)
    x, gamma, dout = (rng.normal(loc=-1.0, size=(3, 2, 4)), rng.normal(size=4), rng.normal(size=(3, 2, 4)))
    forward = lambda t, gm=gamma: gm * t / np.sqrt(np.mean(t ** 2, axis=-1, keepdims=True) + 0.1)
    dx = bnlib.numerical_gradient(forward, x, dout)
    dgamma = bnlib.numerical_gradient(lambda gm: forward(x, gm), gamma, dout)
    case = 'case 4: x of shape (3, 2, 4), epsilon=0.1, read-only inputs'
    got = g.call(f, dout, x, gamma, 0.1, case=case, name='rms_norm_backward', arg_names=['dout', 'x', 'gamma', 'epsilon'], readonly=True, forbid=g.bnlib_functions())
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise g.ExerciseFailure(f'{case}: expected the pair (dx, dgamma), got {g.describe(got)}')
    g.check_array(got[0], dx, case=case, name='dx', rtol=1e-05, atol=1e-08)
    g.check_array(got[1], dgamma, case=case, name='dgamma', rtol=1e-05, atol=1e-08, hint='dgamma sums over every axis but the last')

