package demo

import (
	"fmt"
	"sort"
	"strings"
)

// Sizes of the generated data set (the original generator's size "s").
const (
	nCustomers = 500
	nProducts  = 100
	nCampaigns = 30
	nOrders    = 2000
	nSessions  = 10000
	nTickets   = 500
	windowDays = 360 // 12 months of 30 days ending at windowEnd
	windowEnd  = "2026-03-01"
)

var (
	firstNames = []string{"Anna", "Jan", "Petra", "Tomáš", "Lukas", "Sophie", "Emma", "Noah", "Olivia", "Liam",
		"Marie", "Jakub", "Léa", "Hugo", "Zuzana", "Piotr", "Agnieszka", "Daan", "Sanne", "Lucía",
		"Mateo", "Giulia", "Marco", "Elsa", "Oskar", "James", "Charlotte", "Felix", "Hannah", "Martin"}
	lastNames = []string{"Novák", "Svoboda", "Müller", "Schmidt", "Smith", "Johnson", "Brown", "Dubois", "Martin",
		"Kowalski", "Nowak", "de Vries", "Jansen", "García", "López", "Rossi", "Bianchi", "Andersson",
		"Johansson", "Horváth", "Wagner", "Taylor", "Wilson", "Bernard", "Dvořák", "Černý", "Huber", "Moreau"}
	freeMail     = []string{"gmail.com", "outlook.com", "yahoo.com", "seznam.cz", "gmx.de", "proton.me"}
	companyWords = []string{"Acme", "Nordic", "Vertex", "Bluebird", "Granite", "Lumen", "Orbit", "Pioneer", "Quartz",
		"Summit", "Tandem", "Vista", "Helix", "Crescent", "Atlas", "Beacon"}
	companySuffix = []string{"Ltd", "GmbH", "s.r.o.", "SA", "BV", "AB", "Inc"}
	countries     = []struct {
		name   string
		weight int
		cities []string
	}{
		{"Czech Republic", 25, []string{"Prague", "Brno", "Ostrava", "Plzeň"}},
		{"Germany", 15, []string{"Berlin", "Munich", "Hamburg", "Cologne"}},
		{"United States", 12, []string{"New York", "Chicago", "Austin", "Seattle"}},
		{"United Kingdom", 10, []string{"London", "Manchester", "Bristol", "Leeds"}},
		{"France", 8, []string{"Paris", "Lyon", "Marseille", "Toulouse"}},
		{"Austria", 5, []string{"Vienna", "Graz", "Linz"}},
		{"Poland", 5, []string{"Warsaw", "Kraków", "Wrocław"}},
		{"Netherlands", 5, []string{"Amsterdam", "Rotterdam", "Utrecht"}},
		{"Slovakia", 5, []string{"Bratislava", "Košice"}},
		{"Spain", 4, []string{"Madrid", "Barcelona", "Valencia"}},
		{"Italy", 3, []string{"Rome", "Milan", "Turin"}},
		{"Sweden", 3, []string{"Stockholm", "Gothenburg"}},
	}
	// categories: name, price range, cost ratio, base items.
	categories = []struct {
		name             string
		minPrice, maxPrc float64
		costRatio        float64
		items            []string
	}{
		{"Electronics", 19, 1499, 0.72, []string{"Wireless Earbuds", "Smartwatch", "Bluetooth Speaker", "USB-C Hub", "Mechanical Keyboard", "Webcam", "Power Bank", "Monitor"}},
		{"Clothing", 9, 249, 0.45, []string{"Cotton T-Shirt", "Denim Jacket", "Running Shorts", "Wool Sweater", "Rain Coat", "Chinos", "Hoodie", "Sneakers"}},
		{"Home & Garden", 5, 399, 0.55, []string{"Ceramic Mug", "Garden Hose", "LED Desk Lamp", "Throw Blanket", "Plant Pot", "Kitchen Knife", "Cutting Board", "Coffee Grinder"}},
		{"Sports & Outdoors", 12, 699, 0.6, []string{"Yoga Mat", "Hiking Backpack", "Water Bottle", "Tent", "Bike Helmet", "Dumbbell Set", "Trekking Poles", "Sleeping Bag"}},
		{"Books & Media", 4, 79, 0.5, []string{"Cookbook", "Sci-Fi Novel", "Travel Guide", "Board Game", "Vinyl Record", "Puzzle", "Comic Album", "Language Course"}},
		{"Beauty & Health", 3, 149, 0.4, []string{"Face Cream", "Shampoo", "Electric Toothbrush", "Vitamin D", "Sunscreen", "Hair Dryer", "Perfume", "Lip Balm"}},
	}
	variants = []string{"Pro", "Ultra", "Lite", "Max", "Mini", "Plus"}
	colors   = []string{"Black", "White", "Blue", "Red", "Green", "Grey"}
	channels = []string{"email", "paid_search", "paid_social", "organic_social", "display", "affiliate", "retargeting"}
	cTemplat = []string{"Spring Sale", "Summer Deals", "Back to School", "Black Friday", "Holiday Gifts", "New Year Kickoff", "Loyalty Boost", "Product Launch"}
	pages    = []string{"/", "/products", "/products/electronics", "/products/clothing", "/sale", "/blog", "/about",
		"/contact", "/cart", "/checkout", "/account", "/search"}
	ticketSubjects = map[string][]string{
		"question":        {"Question about sizing", "Is this item in stock?", "Delivery time question", "How do I use a voucher?", "Product compatibility", "Invoice details"},
		"complaint":       {"Item arrived damaged", "Rude courier", "Wrong colour delivered", "Late delivery", "Poor product quality", "Missing parts"},
		"return_request":  {"Return request", "Item does not fit", "Changed my mind", "Wrong item ordered", "Duplicate order", "Return label needed"},
		"shipping":        {"Where is my order?", "Tracking not updating", "Change delivery address", "Parcel lost", "Express shipping", "Delivery failed"},
		"technical_issue": {"Cannot log in", "Checkout error", "Payment page freezes", "App crashes", "Password reset email", "Voucher not applied"},
		"refund":          {"Refund not received", "Partial refund question", "Refund to another card", "Refund status", "Double charge", "Refund amount wrong"},
	}
)

// monthWeights and weekdayWeights shape the order and session dates (Jan..Dec, Mon..Sun).
var (
	monthWeights   = []float64{.70, .75, .85, .90, .95, 1.00, .90, .85, 1.00, 1.10, 1.30, 1.50}
	weekdayWeights = []float64{1.0, 1.0, 1.0, 1.05, 1.15, 0.80, 0.60}
	hourWeights    = []float64{0.6, 0.3, 0.2, 0.15, 0.15, 0.3, 0.8, 1.5, 2.5, 3.5, 4.6, 5, 5.2, 5, 4.6, 4, 3.6, 3.3, 3.1, 3.0, 2.8, 2.3, 1.7, 1.1}
)

func floats(v []float64) string {
	s := make([]string, len(v))
	for i, f := range v {
		s[i] = fmt.Sprintf("%g", f)
	}
	return "([" + strings.Join(s, ", ") + "]::DOUBLE[])"
}

func hourPick(r string) string {
	cs := make([]choice, len(hourWeights))
	for h, w := range hourWeights {
		cs[h] = choice{val: fmt.Sprint(h), weight: w}
	}
	return pick(r, cs)
}

// ts renders a timestamp on date expression day with a weighted hour, keyed by k and salt.
func ts(day, k, salt string) string {
	return fmt.Sprintf("(%s + make_time(%s, (hash(%s, %s) %% 60)::BIGINT, (hash(%s, %s) %% 60)::DOUBLE))",
		day, hourPick(rnd(k, salt+"h")), k, lit(salt+"m"), k, lit(salt+"s"))
}

// script returns the statements that build the final tables (named after the demo tables)
// in an in-memory DuckDB.
func script() []string {
	var countryCh []choice
	var cityCase strings.Builder
	cityCase.WriteString("(CASE country")
	for _, c := range countries {
		countryCh = append(countryCh, choice{val: lit(c.name), weight: float64(c.weight)})
		fmt.Fprintf(&cityCase, " WHEN %s THEN %s", lit(c.name), elem(c.cities, "k", "city"))
	}
	cityCase.WriteString(" END)")

	var catItems []string
	var catCase, priceCase strings.Builder
	catCase.WriteString("(CASE (b - 1) // 8")
	priceCase.WriteString("(CASE (b - 1) // 8")
	for i, c := range categories {
		catItems = append(catItems, c.items...)
		fmt.Fprintf(&catCase, " WHEN %d THEN %s", i, lit(c.name))
		fmt.Fprintf(&priceCase, " WHEN %d THEN struct_pack(lo := %g, hi := %g, cr := %g)", i, c.minPrice, c.maxPrc, c.costRatio)
	}
	catCase.WriteString(" END)")
	priceCase.WriteString(" END)")

	cats := make([]string, 0, len(ticketSubjects))
	for c := range ticketSubjects {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	var subjCase strings.Builder
	subjCase.WriteString("(CASE category")
	for _, c := range cats {
		fmt.Fprintf(&subjCase, " WHEN %s THEN %s", lit(c), elem(ticketSubjects[c], "k", "subj"))
	}
	subjCase.WriteString(" END)")

	end := lit(windowEnd)
	return []string{
		`CREATE MACRO rnd(k, salt) AS (hash(k, salt) % 1000000)::DOUBLE / 1000000.0`,

		// Calendar of the window with cumulative date weights: growth x month x weekday.
		fmt.Sprintf(`CREATE TABLE days AS
WITH d AS (SELECT (DATE %s - %d + range::INTEGER) AS day, range AS i FROM range(%d)),
w AS (SELECT day, (1 + 0.5 * i / %d.0) * %s[month(day)] * %s[isodow(day)] AS w FROM d)
SELECT day, coalesce(sum(w) OVER (ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) / sum(w) OVER () AS lo FROM w`,
			end, windowDays, windowDays, windowDays-1, floats(monthWeights), floats(weekdayWeights)),

		// Customers: registered over the two years before and during the window, ids in registration order.
		fmt.Sprintf(`CREATE TABLE c0 AS
SELECT k, (DATE %s - %d + floor(pow(%s, 0.7) * %d)::INTEGER) AS registration_date,
  %s AS first_name, %s AS last_name, %s AS country, %s AS segment, %s < 0.85 AS is_active
FROM (SELECT range AS k FROM range(%d))`,
			end, windowDays+730, rnd("k", "reg"), windowDays+730-1,
			elem(firstNames, "k", "fn"), elem(lastNames, "k", "ln"), pick(rnd("k", "country"), countryCh),
			pick(rnd("k", "seg"), strs("b2c", 60, "b2b_small", 25, "b2b_enterprise", 15)), rnd("k", "active"), nCustomers),
		fmt.Sprintf(`CREATE TABLE customers_n AS
SELECT row_number() OVER (ORDER BY registration_date, k) AS n, *,
  CASE WHEN segment <> 'b2c' THEN %s || ' ' || %s END AS company,
  %s AS city
FROM c0`, elem(companyWords, "k", "co"), elem(companySuffix, "k", "cs"), cityCase.String()),
		fmt.Sprintf(`CREATE TABLE customers AS
SELECT 'C-' || lpad(n::VARCHAR, 6, '0') AS customer_id,
  lower(strip_accents(replace(first_name, ' ', '') || '.' || replace(last_name, ' ', ''))) || n || '@' ||
    CASE WHEN company IS NULL THEN %s ELSE lower(replace(replace(company, ' ', ''), '.', '')) || '.com' END AS email,
  first_name, last_name, company, country, city, segment, registration_date, is_active
FROM customers_n ORDER BY n`, elem(freeMail, "k", "mail")),

		// Products: 48 base items in 6 categories plus variants.
		fmt.Sprintf(`CREATE TABLE products AS
WITH p AS (SELECT range + 1 AS n, ((range %% 48) + 1) AS b, range >= 48 AS variant FROM range(%d)),
q AS (SELECT n, b, %s AS category, %s AS pr,
  %s[b] || CASE WHEN variant THEN ' ' || %s || ' - ' || %s ELSE '' END AS name FROM p)
SELECT 'P-' || lpad(n::VARCHAR, 5, '0') AS product_id, 'SKU-' || lpad((10000 + n * 7)::VARCHAR, 5, '0') AS sku,
  name, category,
  round(pr.lo + pow(rnd(n, 'price'), 2) * (pr.hi - pr.lo), 2)::DECIMAL(12,2) AS price,
  round((pr.lo + pow(rnd(n, 'price'), 2) * (pr.hi - pr.lo)) * pr.cr * (0.9 + 0.2 * rnd(n, 'cost')), 2)::DECIMAL(12,2) AS cost,
  round(0.1 + rnd(n, 'kg') * 14.9, 2)::DECIMAL(6,2) AS weight_kg,
  rnd(n, 'pa') < 0.9 AS is_active,
  (DATE %s - %d - (hash(n, 'pc') %% 700)::INTEGER) AS created_at
FROM q ORDER BY n`, nProducts, catCase.String(), priceCase.String(), list(catItems),
			elem(variants, "n", "var"), elem(colors, "n", "col"), end, windowDays),

		// Campaigns within the window.
		fmt.Sprintf(`CREATE TABLE campaigns AS
WITH c AS (SELECT range + 1 AS n, %s AS channel,
  (DATE %s - %d + (hash(range, 'cst') %% %d)::INTEGER) AS start_date,
  7 + (hash(range, 'cdur') %% 54)::INTEGER AS days,
  round(500 + rnd(range, 'bud') * 24500, -1) AS budget, range AS k
  FROM range(%d))
SELECT 'CMP-' || lpad(n::VARCHAR, 4, '0') AS campaign_id,
  %s || ' - ' || replace(channel, '_', ' ') || ' ' || year(start_date) AS name,
  channel,
  CASE WHEN start_date + days < DATE %s - 7 THEN 'completed' WHEN rnd(k, 'cstat') < 0.8 THEN 'active' ELSE 'paused' END AS status,
  budget::DECIMAL(12,2) AS budget,
  round(budget * (0.55 + 0.5 * rnd(k, 'spend')), 2)::DECIMAL(12,2) AS spend,
  (budget * (0.55 + 0.5 * rnd(k, 'spend')) * (80 + 420 * rnd(k, 'imp')))::BIGINT AS impressions,
  (budget * (0.55 + 0.5 * rnd(k, 'spend')) * (80 + 420 * rnd(k, 'imp')) * (0.005 + 0.075 * rnd(k, 'ctr')))::BIGINT AS clicks,
  start_date, start_date + days AS end_date,
  %s AS target_segment
FROM c ORDER BY n`, elem(channels, "range", "ch"), end, windowDays, windowDays-7, nCampaigns,
			elem(cTemplat, "k", "tpl"), end, pick(rnd("k", "tseg"), strs("all", 40, "b2c", 35, "b2b_small", 15, "b2b_enterprise", 10))),

		// Orders: weighted dates, a customer registered before that day (older customers buy more).
		fmt.Sprintf(`CREATE TABLE o0 AS
SELECT o.k, d.day FROM (SELECT range AS k, %s AS r FROM range(%d)) o ASOF JOIN days d ON o.r >= d.lo`, rnd("range", "oday"), nOrders),
		`CREATE TABLE o1 AS
SELECT o.k, o.day, c.n AS maxn FROM o0 o ASOF JOIN customers_n c ON o.day > c.registration_date`,
		fmt.Sprintf(`CREATE TABLE o2 AS
SELECT o.k, %s AS created_at, c.customer_id, cn.segment,
  %s AS status, %s AS channel,
  1 + floor(pow(rnd(o.k, 'nit'), 2) * CASE WHEN cn.segment = 'b2b_enterprise' THEN 8 ELSE 5 END)::INTEGER AS n_items
FROM o1 o
JOIN customers_n cn ON cn.n = 1 + floor(o.maxn * pow(rnd(o.k, 'ocust'), 1.6))::BIGINT
JOIN customers c ON c.customer_id = 'C-' || lpad(cn.n::VARCHAR, 6, '0')`,
			ts("o.day", "o.k", "ots"),
			pick(rnd("o.k", "ost"), strs("delivered", 58, "shipped", 15, "confirmed", 10, "pending", 4, "cancelled", 8, "returned", 5)),
			pick(rnd("o.k", "och"), strs("web", 55, "mobile_app", 35, "phone", 5, "api", 5))),
		`CREATE TABLE o3 AS SELECT row_number() OVER (ORDER BY created_at, k) AS n, * FROM o2`,

		// Order items: 1-5 lines (1-8 for enterprise), popular products favoured.
		fmt.Sprintf(`CREATE TABLE order_items AS
WITH i AS (
  SELECT o.n, t.j, o.segment, %d - floor(pow(rnd(o.n * 16 + t.j, 'prod'), 0.6) * %d)::INTEGER AS p,
    (1 + floor(pow(rnd(o.n * 16 + t.j, 'qty'), 2) * 5)::INTEGER) *
      CASE WHEN o.segment = 'b2b_enterprise' THEN 1 + (hash(o.n * 16 + t.j, 'eq') %% 5)::INTEGER ELSE 1 END AS quantity,
    %s AS discount_percent
  FROM o3 o, range(o.n_items) t(j))
SELECT 'OI-' || lpad(row_number() OVER (ORDER BY i.n, i.j)::VARCHAR, 8, '0') AS order_item_id,
  'ORD-' || lpad(i.n::VARCHAR, 7, '0') AS order_id, pr.product_id, i.quantity, pr.price AS unit_price,
  i.discount_percent,
  round(pr.price * i.quantity * (1 - i.discount_percent / 100.0), 2)::DECIMAL(12,2) AS line_total
FROM i JOIN products pr ON pr.product_id = 'P-' || lpad(i.p::VARCHAR, 5, '0')
ORDER BY i.n, i.j`, nProducts, nProducts,
			"("+pick(rnd("o.n * 16 + t.j", "disc"), []choice{{"0", 70}, {"5", 10}, {"10", 10}, {"15", 5}, {"20", 5}})+")::INTEGER"),

		fmt.Sprintf(`CREATE TABLE orders AS
WITH t AS (SELECT order_id, sum(line_total) AS items_total FROM order_items GROUP BY order_id),
o AS (SELECT o3.*, 'ORD-' || lpad(o3.n::VARCHAR, 7, '0') AS order_id FROM o3)
SELECT o.order_id, o.customer_id, o.created_at, o.status,
  t.items_total::DECIMAL(12,2) AS items_total,
  round(t.items_total * 0.05 * CASE WHEN rnd(o.n, 'hasdisc') < 0.3 THEN rnd(o.n, 'disc') ELSE 0 END, 2)::DECIMAL(12,2) AS discount_amount,
  (CASE WHEN t.items_total < 100 THEN round(rnd(o.n, 'ship') * 15.99, 2) ELSE 0 END)::DECIMAL(12,2) AS shipping_amount,
  (t.items_total - round(t.items_total * 0.05 * CASE WHEN rnd(o.n, 'hasdisc') < 0.3 THEN rnd(o.n, 'disc') ELSE 0 END, 2)
    + CASE WHEN t.items_total < 100 THEN round(rnd(o.n, 'ship') * 15.99, 2) ELSE 0 END)::DECIMAL(12,2) AS total_amount,
  o.channel
FROM o JOIN t USING (order_id) ORDER BY o.n`),

		// Payments: one per order, plus an earlier failed attempt for about 5% of orders.
		fmt.Sprintf(`CREATE TABLE payments AS
WITH o AS (SELECT ord.*, c.segment, row_number() OVER (ORDER BY ord.order_id) AS n
  FROM orders ord JOIN customers c USING (customer_id)),
m AS (SELECT o.*, CASE WHEN segment <> 'b2c' AND rnd(n, 'b2bm') < 0.4 THEN %s ELSE %s END AS method FROM o),
p AS (
  SELECT n, 1 AS attempt, order_id, customer_id, total_amount AS amount, method,
    CASE status WHEN 'cancelled' THEN 'cancelled' WHEN 'returned' THEN 'refunded' WHEN 'pending' THEN 'pending' ELSE 'completed' END AS status,
    created_at + to_seconds((30 + hash(n, 'pay') %% 600)::BIGINT) AS created_at
  FROM m
  UNION ALL
  SELECT n, 0, order_id, customer_id, total_amount, method, 'failed',
    created_at - to_seconds((60 + hash(n, 'fail') %% 3000)::BIGINT)
  FROM m WHERE rnd(n, 'failp') < 0.05)
SELECT 'PAY-' || lpad(row_number() OVER (ORDER BY created_at, n, attempt)::VARCHAR, 7, '0') AS payment_id,
  order_id, customer_id, amount, 'EUR' AS currency, method, status, created_at,
  CASE WHEN status IN ('completed', 'refunded') THEN created_at + to_seconds((5 + hash(n, 'done') %% 7200)::BIGINT) END AS completed_at
FROM p ORDER BY payment_id`,
			pick(rnd("n", "b2bmm"), strs("bank_transfer", 50, "invoice", 50)),
			pick(rnd("n", "meth"), strs("credit_card", 40, "debit_card", 20, "paypal", 20, "bank_transfer", 8, "apple_pay", 8, "invoice", 4))),

		// Web sessions: 25% during a campaign, 40% by a known customer.
		fmt.Sprintf(`CREATE TABLE s0 AS
SELECT s.k, d.day, s.r FROM (SELECT range AS k, %s AS r FROM range(%d)) s ASOF JOIN days d ON s.r >= d.lo`, rnd("range", "sday"), nSessions),
		fmt.Sprintf(`CREATE TABLE s1 AS
SELECT s.k,
  CASE WHEN rnd(s.k, 'hascmp') < 0.25 THEN 1 + (hash(s.k, 'cmp') %% %d)::INTEGER END AS cmp,
  s.day FROM s0 s`, nCampaigns),
		`CREATE TABLE s2 AS
SELECT s.k, s.cmp,
  CASE WHEN c.campaign_id IS NULL THEN s.day
    ELSE least(c.start_date + (hash(s.k, 'cday') % (c.end_date - c.start_date + 1))::INTEGER, DATE ` + end + ` - 1) END AS day,
  c.campaign_id
FROM s1 s LEFT JOIN campaigns c ON c.campaign_id = 'CMP-' || lpad(s.cmp::VARCHAR, 4, '0')`,
		`CREATE TABLE s3 AS
SELECT s.*, c.n AS maxn FROM s2 s ASOF LEFT JOIN customers_n c ON s.day > c.registration_date`,
		fmt.Sprintf(`CREATE TABLE web_sessions AS
WITH s AS (SELECT s3.*, %s AS started_at, rnd(k, 'bounce') < 0.35 AS is_bounce FROM s3)
SELECT 'S-' || lpad(row_number() OVER (ORDER BY started_at, k)::VARCHAR, 8, '0') AS session_id,
  'V-' || lpad((hash(k, 'vis') %% 7000)::VARCHAR, 6, '0') AS visitor_id,
  CASE WHEN maxn IS NOT NULL AND rnd(k, 'known') < 0.4 THEN 'C-' || lpad((1 + (hash(k, 'sc') %% maxn))::VARCHAR, 6, '0') END AS customer_id,
  campaign_id, started_at,
  CASE WHEN is_bounce THEN 5 + (hash(k, 'dur') %% 26) ELSE 30 + (hash(k, 'dur') %% 871) END::INTEGER AS duration_seconds,
  CASE WHEN is_bounce THEN 1 ELSE 2 + (hash(k, 'pv') %% 14) END::INTEGER AS pages_viewed,
  %s AS device_type, %s AS browser, %s AS country, %s AS landing_page, is_bounce
FROM s ORDER BY session_id`,
			ts("day", "k", "sts"),
			pick(rnd("k", "dev"), strs("desktop", 45, "mobile", 45, "tablet", 10)),
			pick(rnd("k", "br"), strs("Chrome", 62, "Safari", 20, "Firefox", 8, "Edge", 8, "Other", 2)),
			pick(rnd("k", "scountry"), countryCh), elem(pages, "k", "land")),

		// Support tickets: 60% about one of the customer's orders.
		fmt.Sprintf(`CREATE TABLE t0 AS
SELECT range AS k, rnd(range, 'tord') < 0.6 AS about_order, %s AS r,
  1 + (hash(range, 'tok') %% %d)::INTEGER AS ord FROM range(%d)`, rnd("range", "tday"), nOrders, nTickets),
		`CREATE TABLE t1 AS
SELECT t.k, t.about_order, t.ord, d.day FROM t0 t ASOF JOIN days d ON t.r >= d.lo`,
		`CREATE TABLE t2 AS SELECT t.*, c.n AS maxn FROM t1 t ASOF JOIN customers_n c ON t.day > c.registration_date`,
		fmt.Sprintf(`CREATE TABLE support_tickets AS
WITH t AS (
  SELECT t2.k, o.order_id,
    CASE WHEN t2.about_order THEN o.customer_id ELSE 'C-' || lpad((1 + (hash(t2.k, 'tc') %% t2.maxn))::VARCHAR, 6, '0') END AS customer_id,
    least(CASE WHEN t2.about_order THEN o.created_at + to_hours((2 + hash(t2.k, 'tlag') %% 480)::BIGINT) ELSE %s END,
      TIMESTAMP %s - to_hours((1 + hash(t2.k, 'tcap') %% 48)::BIGINT)) AS created_at,
    %s AS category, %s AS priority, %s AS channel,
    CASE WHEN rnd(t2.k, 'tres') < 0.75 THEN %s ELSE %s END AS status
  FROM t2 LEFT JOIN orders o ON t2.about_order AND o.order_id = 'ORD-' || lpad(t2.ord::VARCHAR, 7, '0'))
SELECT 'TKT-' || lpad(row_number() OVER (ORDER BY created_at, k)::VARCHAR, 6, '0') AS ticket_id,
  customer_id, order_id, category, priority, status, channel, %s AS subject, created_at,
  CASE WHEN status <> 'open' THEN created_at + to_minutes((10 + hash(k, 'fr') %% 1440)::BIGINT) END AS first_response_at,
  CASE WHEN status IN ('resolved', 'closed') THEN created_at + to_hours((2 + hash(k, 'rs') %% 120)::BIGINT) END AS resolved_at,
  CASE WHEN status IN ('resolved', 'closed') AND rnd(k, 'has_sat') < 0.7 THEN %s END AS satisfaction_score
FROM t ORDER BY ticket_id`,
			ts("t2.day", "t2.k", "tts"), end,
			pick(rnd("t2.k", "tcat"), strs("question", 30, "complaint", 15, "return_request", 15, "shipping", 20, "technical_issue", 10, "refund", 10)),
			pick(rnd("t2.k", "tpri"), strs("low", 30, "medium", 45, "high", 20, "critical", 5)),
			pick(rnd("t2.k", "tch"), strs("email", 45, "chat", 30, "phone", 15, "web_form", 10)),
			pick(rnd("t2.k", "tclosed"), strs("resolved", 60, "closed", 40)),
			pick(rnd("t2.k", "topen"), strs("open", 40, "in_progress", 40, "waiting_customer", 20)),
			subjCase.String(),
			"("+pick(rnd("k", "sat"), []choice{{"1", 5}, {"2", 7}, {"3", 15}, {"4", 33}, {"5", 40}})+")::INTEGER"),
	}
}
