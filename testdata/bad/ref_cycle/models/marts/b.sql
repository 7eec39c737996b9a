select * from {{ ref("c") }}
