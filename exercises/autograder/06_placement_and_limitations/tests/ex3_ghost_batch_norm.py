# Generated from exercises/masters/06_placement_and_limitations.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex3_ghost_batch_norm"
points = None

@test_case(points=1, hidden=False)
def test_small(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'ghost_batch_norm')
    rng = np.random.default_rng(61)
    x = rng.normal(loc=[0.0, 3.0, -1.0], scale=[1.0, 2.0, 0.5], size=(8, 3))
    gamma, beta = (np.array([1.0, 2.0, 0.5]), np.array([0.0, -1.0, 0.3]))
    expected = np.concatenate([bnlib.batch_norm_forward(x[i:i + 2], gamma, beta, 0.001)[0] for i in range(0, 8, 2)])
    case = 'case 1: x of shape (N, D) = (8, 3), group_size=2'
    got = g.call(f, x, gamma, beta, 2, 0.001, case=case, name='ghost_batch_norm', arg_names=['x', 'gamma', 'beta', 'group_size', 'epsilon'])
    g.check_array(got, expected, case=case, name='y', hint='each statistic over group_size consecutive examples: (N // group_size) groups in all')

@test_case(points=1, hidden=True)
def test_more_pure(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'ghost_batch_norm')
    rng = np.random.default_rng(62)
    for n, d, size, eps in [(12, 4, 4, 0.01), (6, 2, 6, 0.001), (5, 3, 1, 0.001)]:
        x = rng.normal(size=(n, d)) * rng.uniform(0.5, 3.0, size=d) + rng.normal(size=d)
        gamma, beta = (rng.normal(size=d), rng.normal(size=d))
        expected = np.concatenate([bnlib.batch_norm_forward(x[i:i + size], gamma, beta, eps)[0] for i in range(0, n, size)])
        case = f'case 2: x of shape ({n}, {d}), group_size={size}, epsilon={eps}, read-only'
        got = g.call(f, x, gamma, beta, size, eps, case=case, name='ghost_batch_norm', arg_names=['x', 'gamma', 'beta', 'group_size', 'epsilon'], readonly=True)
        g.check_array(got, expected, case=case, name='y', hint='group_size=N is plain BN; group_size=1 gives beta everywhere (each example is its own mean)')

@test_case(points=1, hidden=True)
def test_answers(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'examples_per_statistic_buggy', kind='int'), 16, name='examples_per_statistic_buggy', rtol=0, reveal=False, hint="which axis of the colleague's reshape has group_size entries, and which axis does the mean run over?")
    g.check_number(g.answer(env, 'x_hat_pair'), 0.95346258924559, name='x_hat_pair', rtol=0.005, reveal=False, hint='two values x1, x2 have mean (x1 + x2) / 2 and biased variance d^2 with d = (x1 - x2) / 2; epsilon is not negligible here')

