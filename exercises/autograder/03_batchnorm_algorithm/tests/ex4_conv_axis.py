# Generated from exercises/masters/03_batchnorm_algorithm.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex4_conv_axis"
points = None

@test_case(points=1, hidden=False)
def test_fixed_small(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'normalize_conv_fixed')
    rng = np.random.default_rng(41)
    x = rng.normal(size=(3, 4, 2, 5)) * 2.0 + np.arange(5)
    gamma, beta = (rng.normal(size=5), rng.normal(size=5))
    case = 'case 1: x of shape (N, H, W, C) = (3, 4, 2, 5)'
    got = g.call(f, x, gamma, beta, 0.001, case=case, name='normalize_conv_fixed', arg_names=['x', 'gamma', 'beta', 'epsilon'], forbid=g.bnlib_functions())
    g.check_array(got, bnlib.batch_norm_forward(x, gamma, beta, 0.001, axis=-1)[0], case=case, name='y', hint='one mean and one variance per channel, each over N * H * W values')

@test_case(points=1, hidden=True)
def test_fixed_more(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'normalize_conv_fixed')
    rng = np.random.default_rng(42)
    for shape in [(1, 5, 3, 2), (6, 2, 7, 3)]:
        x = rng.normal(size=shape) * rng.uniform(0.5, 3, size=shape[-1]) + rng.normal(size=shape[-1])
        gamma, beta = (rng.normal(size=shape[-1]), rng.normal(size=shape[-1]))
        case = f'case 2: x of shape {shape}, read-only, epsilon=1e-2'
        got = g.call(f, x, gamma, beta, 0.01, case=case, name='normalize_conv_fixed', arg_names=['x', 'gamma', 'beta', 'epsilon'], readonly=True, forbid=g.bnlib_functions())
        g.check_array(got, bnlib.batch_norm_forward(x, gamma, beta, 0.01, axis=-1)[0], case=case, name='y')

@test_case(points=1, hidden=True)
def test_counts(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'n_means_buggy', kind='int'), 21632, name='n_means_buggy', rtol=0, reveal=False, hint='x.mean(axis=0) keeps every axis but the batch axis')
    g.check_number(g.answer(env, 'n_means_correct', kind='int'), 32, name='n_means_correct', rtol=0, reveal=False)

