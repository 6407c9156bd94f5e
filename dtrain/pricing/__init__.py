"""Costs: the price table (price_table), a spec's worst case (spec_cost), the platform's idle cost
(idle_cost). Nothing here calls AWS: prices come from a dated file the platform team updates."""
