# Generated from exercises/masters/04_backward_pass.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex3_projection"
points = None

@test_case(points=0, hidden=False)
def test_form(env):
    from bncourse import guards as g
    for name in ['max_abs_dx', 'dgamma_value', 'dbeta_value']:
        g.answer(env, name)

@test_case(points=1, hidden=True)
def test_dx(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'max_abs_dx'), 0.0, name='max_abs_dx', atol=1e-06, reveal=False, hint='the input gradient is orthogonal to 1 and to x_hat')

@test_case(points=1, hidden=True)
def test_dgamma(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'dgamma_value'), 24.0, name='dgamma_value', rtol=0.001, reveal=False)

@test_case(points=1, hidden=True)
def test_dbeta(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'dbeta_value'), 16.0, name='dbeta_value', rtol=0.001, reveal=False)

