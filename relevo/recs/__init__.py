"""Recommenders: named strategies that rank catalog items for a person, an item or a basket.

Every model works on `Interactions` (relevo.recs.data) in index space and shares the small
interface in relevo.recs.base, so the same objects serve requests, get trained by `relevo train`
and get measured by `relevo evaluate`.
"""
