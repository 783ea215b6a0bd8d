"""Audiences: named conditions over people, in Relevo's one condition language
(`relevo.conditions`) plus behaviour operators (`$event`, relevo.audiences.behaviour).

    document     what a condition sees of one person now (and of the request, if any)
    context      the request context from what a caller sends
    behaviour    $event, answered from the per-person counters of relevo.profiles.state
    builtins     new visitor, returning visitor, customer, ... ready in every workspace
    model        Audience, Membership; judging one person (the per-person interpreter)
    vectorised   judging a table of profiles column by column (the second interpreter)
    records      the stores the domain needs (Protocols), the dependents of an audience
    service      the use cases: definitions, a person's audiences with why, previews, members

Errors:

    RelevoError (relevo.errors)
    ├── InvalidCondition (400)   a condition refused when saved, naming its part
    ├── NotFound (404)           no audience with that id
    └── ConflictError (409)      an id taken
        └── AudienceInUse        deleting an audience a rule uses: the dependents are listed
"""
