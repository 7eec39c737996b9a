select id, name, price
from {{ ref('products') }}
