select
  1 as id,
  {{ cents_to_dollars("amount") }} as amount
from (select 100 as amount)
