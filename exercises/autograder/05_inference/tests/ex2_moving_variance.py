# Generated from exercises/masters/05_inference.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex2_moving_variance"
points = None

@test_case(points=0, hidden=False)
def test_form(env):
    from bncourse import guards as g
    for name in ['var_after_50', 'var_after_500', 'shrink_after_200']:
        value = g.answer(env, name)
        if value <= 0:
            raise g.ExerciseFailure(f'`{name}` should be a positive number, got {value}')

@test_case(points=1, hidden=True)
def test_50(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'var_after_50'), 0.6208058244520349, name='var_after_50', rtol=0.01, reveal=False, hint='the distance to 0.04 shrinks by the factor 0.99 at every step')

@test_case(points=1, hidden=True)
def test_500(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'var_after_500'), 0.04630766372071802, name='var_after_500', rtol=0.01, reveal=False)

@test_case(points=1, hidden=True)
def test_shrink(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'shrink_after_200'), 0.491646299136133, name='shrink_after_200', rtol=0.01, reveal=False)

