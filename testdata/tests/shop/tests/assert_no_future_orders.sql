-- Orders may not be placed in the future.
select order_id, ordered_at
from {{ ref('orders') }}
where cast(ordered_at as date) > current_date
