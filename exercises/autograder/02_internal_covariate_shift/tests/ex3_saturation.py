# Generated from exercises/masters/02_internal_covariate_shift.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex3_saturation"
points = None

@test_case(points=1, hidden=False)
def test_fixed_examples(env):
    import numpy as np
    from bncourse import guards as g
    f = g.function(env, 'saturated_fraction_fixed')
    z = np.array([0.0, 1.0, 3.6, 3.7, -5.0, 10.0])
    case = 'case 1: z = [0, 1, 3.6, 3.7, -5, 10]'
    got = g.call(f, z, case=case, name='saturated_fraction_fixed', arg_names=['z'])
    g.check_number(got, 0.5, case=case, name='saturated_fraction_fixed(z)', atol=1e-12, hint='the derivative at 3.6 is 0.0259, just above 0.025; at 3.7 it is 0.0236')

@test_case(points=1, hidden=True)
def test_fixed_random(env):
    import numpy as np
    from bncourse import guards as g
    f = g.function(env, 'saturated_fraction_fixed')
    rng = np.random.default_rng(25)
    for scale, shape in [(1.0, (64, 10)), (6.0, (7, 3, 5))]:
        z = rng.normal(scale=scale, size=shape)
        s = 1 / (1 + np.exp(-z))
        case = f'case 2: z of shape {shape} with standard deviation {scale:g}, read-only'
        got = g.call(f, z, case=case, name='saturated_fraction_fixed', arg_names=['z'], readonly=True)
        g.check_number(got, float(np.mean(s * (1 - s) < 0.025)), case=case, name='saturated_fraction_fixed(z)', atol=1e-12)

@test_case(points=1, hidden=True)
def test_bound(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'max_derivative'), 0.25, name='max_derivative', rtol=0.001, reveal=False)
    g.check_number(g.answer(env, 'bound_14_layers'), 0.25 ** 14, name='bound_14_layers', rtol=0.01, reveal=False)

