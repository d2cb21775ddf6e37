# Generated from exercises/masters/03_batchnorm_algorithm.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex3_epsilon_limit"
points = None

@test_case(points=0, hidden=False)
def test_form(env):
    from bncourse import guards as g
    for name in ['x_hat_4_small', 'x_hat_4_large']:
        g.answer(env, name)

@test_case(points=1, hidden=True)
def test_small(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'x_hat_4_small'), 0.23497813499638226, name='x_hat_4_small', rtol=0.005, reveal=False, hint='mu = 2 + delta/4; sigma^2 = 3 delta^2 / 16, comparable to epsilon here')

@test_case(points=1, hidden=True)
def test_large(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'x_hat_4_large'), 1.7320508075688772, name='x_hat_4_large', rtol=0.005, reveal=False)

