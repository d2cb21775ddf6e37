# Generated from exercises/masters/04_backward_pass.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex4_unbiased_variance"
points = None

@test_case(points=1, hidden=False)
def test_fixed_batch_8(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'backward_ddof1')

    def forward_ddof1(x, gamma, beta, epsilon=0.001):
        x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=1) + epsilon)
        return gamma * x_hat + beta
    rng = np.random.default_rng(421)
    x = rng.normal(loc=1.0, scale=2.0, size=(8, 3))
    gamma, beta, dout = (rng.normal(size=3), rng.normal(size=3), rng.normal(size=(8, 3)))
    expected = bnlib.numerical_gradient(lambda t: forward_ddof1(t, gamma, beta), x, dout)
    case = 'case 1: a batch of 8, shape (8, 3), random dout'
    got = g.call(f, dout, x, gamma, 0.001, case=case, name='backward_ddof1', arg_names=['dout', 'x', 'gamma', 'epsilon'])
    g.check_array(got, expected, case=case, name='dx', rtol=1e-05, atol=1e-07, hint='only the path through the variance changes: differentiate sum((x - mu)**2) / (m - 1)')

@test_case(points=1, hidden=True)
def test_fixed_more(env):
    import numpy as np
    import bnlib
    from bncourse import guards as g
    f = g.function(env, 'backward_ddof1')

    def forward_ddof1(x, gamma, beta, epsilon=0.001):
        x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0, ddof=1) + epsilon)
        return gamma * x_hat + beta
    rng = np.random.default_rng(422)
    for shape, eps in [((5, 2), 0.01), ((30, 4), 0.001)]:
        x = rng.normal(loc=-1.0, scale=0.5, size=shape)
        gamma, beta, dout = (rng.normal(size=shape[1]), rng.normal(size=shape[1]), rng.normal(size=shape))
        expected = bnlib.numerical_gradient(lambda t: forward_ddof1(t, gamma, beta, eps), x, dout)
        case = f'case 2: shape {shape}, epsilon={eps}, read-only inputs'
        got = g.call(f, dout, x, gamma, eps, case=case, name='backward_ddof1', arg_names=['dout', 'x', 'gamma', 'epsilon'], readonly=True)
        g.check_array(got, expected, case=case, name='dx', rtol=1e-05, atol=1e-07)

@test_case(points=1, hidden=True)
def test_ones_check(env):
    from bncourse import guards as g
    if g.answer(env, 'ones_check_passes', kind='bool') is not True:
        raise g.ExerciseFailure('ones_check_passes is not right')

@test_case(points=1, hidden=True)
def test_coefficient(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'c_batch_8'), 8 / 7, name='c_batch_8', rtol=0.001, reveal=False)

