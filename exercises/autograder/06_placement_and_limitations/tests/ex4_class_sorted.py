# Generated from exercises/masters/06_placement_and_limitations.ipynb by `make exercises`: edit the master, not this file.
from otter.test_files import test_case

OK_FORMAT = False

name = "ex4_class_sorted"
points = None

@test_case(points=0, hidden=False)
def test_form(env):
    from bncourse import guards as g
    g.answer(env, 'moving_mean_one_class')
    for name in ['var_ratio_one_class', 'var_ratio_two_classes']:
        value = g.answer(env, name)
        if value <= 0:
            raise g.ExerciseFailure(f'`{name}` is a ratio of two variances: it should be a positive number, got {value}')

@test_case(points=1, hidden=True)
def test_mean(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'moving_mean_one_class'), 2.0, name='moving_mean_one_class', rtol=0.02, reveal=False, hint="the moving mean averages the batch means; over many batches, how often is each class the batch's class?")

@test_case(points=1, hidden=True)
def test_one_class(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'var_ratio_one_class'), 2 / 9, name='var_ratio_one_class', rtol=0.03, reveal=False, hint='law of total variance: population variance = mean within-class variance + variance of the class means')

@test_case(points=1, hidden=True)
def test_two_classes(env):
    from bncourse import guards as g
    g.check_number(g.answer(env, 'var_ratio_two_classes'), 20 / 27, name='var_ratio_two_classes', rtol=0.03, reveal=False, hint='a batch of two classes in equal halves has the variance: within-class variance + ((m_a - m_b) / 2)^2')

