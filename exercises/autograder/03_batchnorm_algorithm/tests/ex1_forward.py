# Generated from exercises/masters/03_batchnorm_algorithm.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex1_forward"
points = None

@test_case(points=1, hidden=False)
def test_dense(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'bn_forward')
    x = np.array([[1.0, 10.0, 101.0], [2.0, 20.0, 102.0], [3.0, 30.0, 103.0], [4.0, 40.0, 104.0], [5.0, 50.0, 105.0]])
    gamma, beta = (np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 3.0]))
    case = "case 1: the chapter's dense batch, x of shape (5, 3), axis=-1"
    got = g.call(f, x, gamma, beta, 0.001, -1, case=case, name='bn_forward', arg_names=['x', 'gamma', 'beta', 'epsilon', 'axis'], forbid=g.bnlib_functions())
    g.check_array(got, bnlib.batch_norm_forward(x, gamma, beta, 0.001)[0], case=case, name='y', hint='for (N, D) inputs the statistics are taken over axis 0, one mean and variance per column')

@test_case(points=1, hidden=False)
def test_nhwc(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'bn_forward')
    rng = np.random.default_rng(31)
    x = rng.normal(size=(4, 3, 2, 5)) * rng.uniform(0.5, 3.0, size=5) + 3.0 * np.arange(5)
    gamma, beta = (rng.normal(size=5), rng.normal(size=5))
    case = 'case 2: images, x of shape (N, H, W, C) = (4, 3, 2, 5), axis=-1'
    got = g.call(f, x, gamma, beta, 0.001, -1, case=case, name='bn_forward', arg_names=['x', 'gamma', 'beta', 'epsilon', 'axis'], forbid=g.bnlib_functions())
    g.check_array(got, bnlib.batch_norm_forward(x, gamma, beta, 0.001, axis=-1)[0], case=case, name='y', hint='per channel, over N, H and W: axes (0, 1, 2)')

@test_case(points=1, hidden=True)
def test_nchw(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'bn_forward')
    rng = np.random.default_rng(32)
    x = rng.normal(size=(4, 5, 3, 2)) + 3.0 * np.arange(5).reshape(1, 5, 1, 1)
    gamma, beta = (rng.normal(size=5), rng.normal(size=5))
    case = 'case 3: channels first, x of shape (N, C, H, W) = (4, 5, 3, 2), axis=1'
    got = g.call(f, x, gamma, beta, 0.001, 1, case=case, name='bn_forward', arg_names=['x', 'gamma', 'beta', 'epsilon', 'axis'], forbid=g.bnlib_functions())
    g.check_array(got, bnlib.batch_norm_forward(x, gamma, beta, 0.001, axis=1)[0], case=case, name='y', hint='with axis=1 the statistics are taken over axes (0, 2, 3), and gamma must broadcast along axis 1')

@test_case(points=1, hidden=True)
def test_epsilon(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'bn_forward')
    x = np.array([[1.0, 7.0, 0.0], [1.02, 7.0, 1.0], [0.99, 7.0, 4.0], [1.01, 7.0, 9.0]])
    gamma, beta = (np.array([2.0, 1.0, 0.5]), np.array([0.0, 1.0, -1.0]))
    for eps in [0.1, 1e-05]:
        case = f'case 4: a barely varying, a constant and a spread-out feature, epsilon={eps}'
        got = g.call(f, x, gamma, beta, eps, -1, case=case, name='bn_forward', arg_names=['x', 'gamma', 'beta', 'epsilon', 'axis'], forbid=g.bnlib_functions())
        g.check_array(got, bnlib.batch_norm_forward(x, gamma, beta, eps)[0], case=case, name='y', hint='use the epsilon argument, inside the square root, with the biased variance (ddof=0)')

@test_case(points=1, hidden=True)
def test_pure(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'bn_forward')
    rng = np.random.default_rng(34)
    x = rng.normal(size=(6, 4)) * 2.0 + 1.0
    gamma, beta = (rng.normal(size=4), rng.normal(size=4))
    case = 'case 5: x, gamma and beta are read-only arrays'
    got = g.call(f, x, gamma, beta, 0.001, -1, case=case, name='bn_forward', arg_names=['x', 'gamma', 'beta', 'epsilon', 'axis'], readonly=True, forbid=g.bnlib_functions())
    g.check_array(got, bnlib.batch_norm_forward(x, gamma, beta, 0.001)[0], case=case, name='y')

