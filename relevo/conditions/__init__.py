"""Relevo's one condition language: MongoDB-style JSON conditions as GrowthBook targeting writes
them, evaluated against one document (a profile, an event's properties, a product). Pure: no
I/O; usable from the API, the CLI and batch jobs.

    {"$and": [{"father.age": {"$gt": 65}},
              {"$or": [{"bday": {"$regex": "-12-25$"}}, {"name": "santa"}]}]}

Condition level: ``$and $or $nor $not``, registered extension operators (see
`relevo.conditions.extensions`), and dotted attribute paths (objects only; a missing step is
null). A path's value is either a value the attribute must equal (JSON equality: arrays in
order, objects by key) or an object of operators, all of which must hold:

    $eq $ne $lt $lte $gt $gte   compare; a number against a non-number reads the other side as a
                                number (missing/null is 0, true/false 1/0, "8" is 8), as in
                                GrowthBook: {"age": {"$lt": 10}} matches a missing age
    $in $nin $ini $nini         membership (an array attribute: any shared element); i: no case
    $all $alli                  every operand item matches some element of an array attribute
    $elemMatch                  some element matches (operators, or a condition on objects)
    $size                       the array's length matches a number or operators
    $exists $type               not null / one of string number boolean array object null
    $not                        negates a value condition
    $regex $regexi $notRegex $notRegexi   Python `re` search, bounded (relevo.conditions.regex)
    $veq $vne $vlt $vlte $vgt $vgte      version order, as GrowthBook's paddedVersionString
    $inGroup $notInGroup        membership in a saved group passed at evaluation

Every `evalCondition` case of GrowthBook's cases.json (spec 0.7.1) passes. Where the reference
SDKs (JavaScript, Python) disagree or crash, this follows the Python SDK's reading unless it
raises, and then answers false: equality is JSON equality (no "5" == 5, no true == 1); $regex
matches strings only and $notRegex is true for non-strings; a malformed operand ($in of a
non-array, a bad regex) makes its operator false whatever its polarity; an unknown operator is
false. `validate` refuses all of these when a condition is saved.

    validate(condition, extensions=None, *, known_groups=None, root="$") -> Condition
        raises InvalidCondition (400, relevo.conditions.errors) naming the offending part
    evaluate(condition, document, *, saved_groups=None, extensions=None) -> Outcome
        never raises; Outcome(matched, reason)
    Condition.evaluate(document, ...) / Condition.matches(document, ...) -> Outcome / bool
"""

from relevo.conditions.condition import Condition
from relevo.conditions.durations import parse_duration
from relevo.conditions.errors import InvalidCondition
from relevo.conditions.evaluate import evaluate
from relevo.conditions.extensions import Answer, Extension
from relevo.conditions.groups import SavedGroups
from relevo.conditions.outcome import Outcome
from relevo.conditions.validate import validate

__all__ = [
    "Answer",
    "Condition",
    "Extension",
    "InvalidCondition",
    "Outcome",
    "SavedGroups",
    "evaluate",
    "parse_duration",
    "validate",
]
