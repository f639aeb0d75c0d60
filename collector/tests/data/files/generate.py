#!/usr/bin/env python3
"""Writes the file-ingestion corpus (collector/tests/data/files/) and its manifest.toml.

Every file is built from sales the script itself makes up (seeded, so the output is the same on
every run); the expected row counts, transactions and revenue in the manifest are computed here
from those sales with exact decimals, never read back from the collector. The files imitate what
back offices of sari-sari store chains export: POS and spreadsheet CSVs in several dialects and
encodings, Taglish headers, Excel workbooks (xlsx and legacy xls), supplier JSON and NDJSON, XML,
a Parquet extract, and broken or hostile inputs.

Needs openpyxl, xlwt and pyarrow (`pip install openpyxl xlwt pyarrow`). Run from anywhere:

    python3 collector/tests/data/files/generate.py
"""

import datetime as dt
import io
import json
import os
import random
import zipfile
from decimal import ROUND_HALF_UP, Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20250314)
CENT = Decimal("0.01")

# (brand, product, category, unit price)
PRODUCTS = [
    ("Coca-Cola", "Coke Mismo 290ml", "Beverages", "20.00"),
    ("Lucky Me!", "Pancit Canton Chilimansi 60g", "Instant Noodles", "16.50"),
    ("Bear Brand", "Bear Brand Fortified 33g", "Dairy", "12.00"),
    ("Safeguard", "Safeguard Pure White 60g", "Personal Care", "35.25"),
    ("Piattos", "Piattos Cheese 40g", "Snacks", "19.75"),
    ("Kopiko", "Kopiko Brown Coffee 3-in-1", "Coffee", "9.00"),
    ("Nescafe", "Nescafe Classic Stick 2g", "Coffee", "6.50"),
    ("Tide", "Tide Powder Original 70g", "Household", "14.00"),
    ("Surf", "Surf Fabcon Blossom Fresh 65g", "Household", "10.50"),
    ("San Miguel", "San Miguel Pale Pilsen 330ml", "Alcohol", "65.00"),
    ("Marlboro", "Marlboro Red (per stick)", "Tobacco", "9.50"),
    ("Ligo", "Ligo Sardines Red 155g", "Canned Goods", "27.00"),
    ("Century Tuna", "Century Tuna Flakes in Oil 155g", "Canned Goods", "38.75"),
    ("Palmolive", "Palmolive Shampoo Sachet 15ml", "Personal Care", "7.00"),
    ("Colgate", "Colgate Fresh Gel 22ml", "Personal Care", "24.00"),
    ("Datu Puti", "Datu Puti Vinegar 385ml", "Condiments", "21.50"),
    ("Silver Swan", "Silver Swan Soy Sauce 385ml", "Condiments", "22.00"),
    ("Rebisco", "Rebisco Crackers 10s", "Biscuits", "68.25"),
    ("SkyFlakes", "SkyFlakes Crackers 25g", "Biscuits", "7.50"),
    ("Zesto", "Zesto Orange 200ml", "Beverages", "12.50"),
    ("Gardenia", "Gardenia Classic White Bread 600g", "Bakery", "89.50"),
    ("Magnolia", "Magnolia Fresh Milk 1L", "Dairy", "105.00"),
    ("Red Horse", "Red Horse Beer 1L", "Alcohol", "145.00"),
    ("Alaska", "Alaska Evaporada 370ml", "Dairy", "36.75"),
    ("Knorr", "Knorr Sinigang sa Sampalok Mix 22g", "Condiments", "23.00"),
    ("Milo", "Milo Activ-Go 300g", "Beverages", "1059.50"),
]
PAYMENTS = ["Cash", "GCash", "Maya", "Cash", "GCash", "Utang", "Card"]
STORES = ["S104", "S107", "S112", "S120"]
DEVICES = ["SCOUTPI-0004", "SCOUTPI-0007", "SCOUTPI-0012"]


def money(s):
    return Decimal(s).quantize(CENT)


def centavos(d):
    return int((d.quantize(CENT, rounding=ROUND_HALF_UP) * 100).to_integral_value())


class Sale:
    def __init__(self, txn, when, store, device, payment, age, gender, items):
        self.txn, self.when, self.store, self.device = txn, when, store, device
        self.payment, self.age, self.gender, self.items = payment, age, gender, items

    def total(self):
        return sum((i["line"] for i in self.items), Decimal(0))


def sales(n, prefix="TXN", start=None, max_items=3, decimal_qty=False):
    start = start or dt.datetime(2025, 3, 1, 7, 0)
    out = []
    t = start
    for k in range(n):
        t = t + dt.timedelta(minutes=rng.randint(7, 300), seconds=rng.choice([0, 0, 15, 42]))
        items = []
        for brand, product, category, price in rng.sample(PRODUCTS, rng.randint(1, max_items)):
            qty = Decimal(rng.choice([1, 1, 1, 2, 2, 3, 5]))
            if decimal_qty and category in ("Dairy", "Bakery"):
                qty = Decimal(rng.choice(["0.5", "1.5", "2.25"]))
            unit = money(price)
            items.append(
                dict(brand=brand, product=product, category=category, qty=qty, unit=unit,
                     line=(unit * qty).quantize(CENT, rounding=ROUND_HALF_UP),
                     sku="SKU-%05d" % (PRODUCTS.index((brand, product, category, price)) + 1001)))
        out.append(Sale("%s-%04d" % (prefix, k + 1), t, rng.choice(STORES), rng.choice(DEVICES),
                        rng.choice(PAYMENTS), rng.randint(16, 70), rng.choice(["M", "F"]), items))
    return out


def revenue(ss):
    return sum(centavos(s.total()) for s in ss)


def item_count(ss):
    return sum(len(s.items) for s in ss)


def comma_money(d, symbol=""):
    return "%s%s" % (symbol, "{:,.2f}".format(d))


def euro_money(d):
    # 1.234,50
    s = "{:,.2f}".format(d)
    return s.replace(",", "_").replace(".", ",").replace("_", ".")


def qty_text(q):
    return str(q.normalize()) if q == q.to_integral_value() else str(q)


MANIFEST = []


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def entry(name, fmt, ss=None, mapping=None, **extra):
    e = {"name": name, "format": fmt}
    if ss is not None:
        e["transactions"] = len(ss)
        e["items"] = item_count(ss)
        e["revenue_centavos"] = revenue(ss)
        # Silver takes sales only: a return or void (a negative line) is quarantined, so what
        # reaches silver and gold differs from the file's net revenue where the file has one.
        sold = sum(centavos(i["line"]) for s in ss for i in s.items if i["line"] >= 0)
        if sold != e["revenue_centavos"]:
            e["silver_revenue_centavos"] = sold
    if mapping is not None:
        e["mapping"] = mapping
    e.update(extra)
    MANIFEST.append(e)


def csv_text(rows, delim=","):
    out = io.StringIO()
    import csv
    w = csv.writer(out, delimiter=delim, lineterminator="\r\n")
    for r in rows:
        w.writerow(r)
    return out.getvalue()


# ---------------------------------------------------------------------------- delimited text

def basic_csv():
    ss = sales(8)
    head = ["Transaction ID", "Timestamp", "Store ID", "Device ID", "Brand", "Product", "Category",
            "Quantity", "Unit Price", "Payment Method"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%Y-%m-%d %H:%M:%S"), s.store, s.device, i["brand"],
                         i["product"], i["category"], qty_text(i["qty"]), str(i["unit"]), s.payment])
    write("pos_export_basic.csv", csv_text(rows).encode())
    entry("pos_export_basic.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "store_id", "device_id", "brand", "product", "category",
        "quantity", "unit_price", "payment_method"])), delimiter=",")


def semicolon_decimal_comma():
    ss = sales(7, prefix="R", max_items=2, start=dt.datetime(2025, 3, 20, 7, 0))
    ss[0].items[0].update(qty=Decimal(1), unit=money("1059.50"), line=money("1059.50"),
                          product="Milo Activ-Go 300g", brand="Milo", category="Beverages")
    head = ["Resibo No", "Petsa", "Produkto", "Dami", "Presyo", "Halaga"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%d/%m/%Y"), i["product"], qty_text(i["qty"]),
                         euro_money(i["unit"]), euro_money(i["line"])])
    write("branch_semicolon_decimal_comma.csv", csv_text(rows, ";").encode())
    entry("branch_semicolon_decimal_comma.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "unit_price", "total_amount"])),
        delimiter=";", first_timestamp=ss[0].when.strftime("%Y-%m-%dT00:00:00+08:00"))


def pipe_wrong_extension():
    ss = sales(6, prefix="OR")
    head = ["OR No.", "Date", "Item Description", "Qty", "Price", "Amount", "Mode of Payment"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%Y-%m-%d"), i["product"], qty_text(i["qty"]),
                         str(i["unit"]), str(i["line"]), s.payment])
    write("pos_pipe_delimited.txt", csv_text(rows, "|").encode())
    entry("pos_pipe_delimited.txt", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "unit_price", "total_amount",
        "payment_method"])), delimiter="|")


def tsv_basic():
    ss = sales(6, prefix="T")
    head = ["txn_id", "sale_date", "store", "sku", "product_name", "qty", "unit_price", "line_total"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.isoformat(), s.store, i["sku"], i["product"],
                         qty_text(i["qty"]), str(i["unit"]), str(i["line"])])
    write("warehouse_extract.tsv", csv_text(rows, "\t").encode())
    entry("warehouse_extract.tsv", "tsv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "store_id", "sku", "product", "quantity", "unit_price",
        "total_amount"])), delimiter="\t")


def title_rows_and_total():
    ss = sales(6, prefix="SALE")
    head = ["Sale ID", "Date", "Time", "Product", "Qty", "Amount"]
    rows = [["Tindahan ni Aling Nena - Daily Sales Report", "", "", "", "", ""],
            ["Prepared by: Bookkeeper", "", "", "", "", ""], ["", "", "", "", "", ""], head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%m/%d/%Y"), s.when.strftime("%I:%M %p"),
                         i["product"], qty_text(i["qty"]), comma_money(i["line"])])
    rows.append(["", "", "", "", "", ""])
    rows.append(["TOTAL", "", "", "", str(sum(int(i["qty"]) for s in ss for i in s.items)),
                 comma_money(sum((s.total() for s in ss), Decimal(0)))])
    write("daily_report_title_rows.csv", csv_text(rows).encode())
    entry("daily_report_title_rows.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "date", "time", "product", "quantity", "total_amount"])),
        summary_rows=1, issues=["summary_rows"])


def taglish_headers():
    ss = sales(7, prefix="TX")
    head = ["Tindahan", "Petsa", "Oras", "Produkto", "Tatak", "Kategorya", "Dami", "Presyo",
            "Kabuuan", "Paraan ng Bayad", "Edad", "Kasarian"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.store, s.when.strftime("%Y-%m-%d"), s.when.strftime("%H:%M"), i["product"],
                         i["brand"], i["category"], qty_text(i["qty"]), comma_money(i["unit"], "₱"),
                         comma_money(i["line"], "₱"), s.payment, str(s.age),
                         {"M": "Lalaki", "F": "Babae"}[s.gender]])
    # No transaction id: every row is its own transaction.
    n = item_count(ss)
    write("tindahan_taglish.csv", csv_text(rows).encode())
    entry("tindahan_taglish.csv", "csv", None, dict(zip(head, [
        "store_id", "date", "time", "product", "brand", "category", "quantity", "unit_price",
        "total_amount", "payment_method", "customer_age", "gender"])),
        transactions=n, items=n, revenue_centavos=revenue(ss))


def windows_1252():
    ss = sales(5, prefix="W")
    names = ["Piña Juice 250ml", "Niño Chicharon 60g", "Café Puro 3-in-1", "Jalapeño Chips 40g"]
    head = ["Receipt Number", "Date", "Description", "Quantity", "Unit Price", "Total Amount"]
    rows = [head]
    for s in ss:
        for i in s.items:
            i["product"] = rng.choice(names)
            rows.append([s.txn, s.when.strftime("%m/%d/%Y %H:%M"), i["product"], qty_text(i["qty"]),
                         "PHP " + comma_money(i["unit"]), "PHP " + comma_money(i["line"])])
    write("legacy_windows1252.csv", csv_text(rows).encode("cp1252"))
    entry("legacy_windows1252.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "unit_price", "total_amount"])),
        encoding="windows-1252", product_example="Piña Juice 250ml")


def utf16_tab_unicode_text():
    ss = sales(5, prefix="U")
    head = ["Transaction No", "Date", "Brand Name", "Item Name", "Qty", "SRP", "Sales Amount"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%Y-%m-%d %H:%M"), i["brand"], i["product"],
                         qty_text(i["qty"]), str(i["unit"]), comma_money(i["line"], "₱")])
    write("excel_unicode_text_utf16le.txt", b"\xff\xfe" + csv_text(rows, "\t").encode("utf-16-le"))
    entry("excel_unicode_text_utf16le.txt", "tsv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "brand", "product", "quantity", "unit_price",
        "total_amount"])), encoding="UTF-16LE")


def utf16_be():
    ss = sales(4, prefix="BE")
    head = ["Order ID", "Order Date", "Product", "Units Sold", "Revenue"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%Y-%m-%d"), i["product"], qty_text(i["qty"]),
                         str(i["line"])])
    write("supplier_utf16be.csv", b"\xfe\xff" + csv_text(rows).encode("utf-16-be"))
    entry("supplier_utf16be.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "total_amount"])), encoding="UTF-16BE")


def utf8_bom_peso():
    ss = sales(6, prefix="B")
    head = ["Txn ID", "Date/Time", "SKU Desc", "Qty", "Amt (₱)", "Payment"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%Y-%m-%dT%H:%M:%S+08:00"), i["product"],
                         qty_text(i["qty"]), comma_money(i["line"], "₱"), s.payment])
    write("utf8_bom_peso.csv", b"\xef\xbb\xbf" + csv_text(rows).encode())
    entry("utf8_bom_peso.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "total_amount", "payment_method"])))


def quoted_newlines():
    ss = sales(5, prefix="Q")
    head = ["transaction_id", "date", "product", "notes", "quantity", "price"]
    rows = [head]
    notes = ["paid exact, \"suki\" customer", "reseller price\napproved by owner", "",
             "returned empty bottle, deposit kept", "multi-line\nnote, with comma"]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%Y-%m-%d"), i["product"] + (", promo" if rng.random() < 0.3 else ""),
                         rng.choice(notes), qty_text(i["qty"]), str(i["unit"])])
    write("quoted_newlines.csv", csv_text(rows).encode())
    entry("quoted_newlines.csv", "csv", ss, {
        "transaction_id": "transaction_id", "date": "timestamp", "product": "product",
        "quantity": "quantity", "price": "unit_price"}, unmapped=["notes"])


def numbered_headers_no_id():
    ss = sales(9, max_items=1)
    head = ["1. Date", "2. Item", "3. Qty", "4. Amount (₱)", "5. Branch"]
    rows = [head]
    for s in ss:
        i = s.items[0]
        rows.append([s.when.strftime("%Y-%m-%d %H:%M"), i["product"], qty_text(i["qty"]),
                     comma_money(i["line"]), s.store])
    write("numbered_headers_no_id.csv", csv_text(rows).encode())
    entry("numbered_headers_no_id.csv", "csv", ss, dict(zip(head, [
        "timestamp", "product", "quantity", "total_amount", "store_id"])), derived_ids=True)


def trailing_delimiters_blank_rows():
    ss = sales(5, prefix="TD")
    head = ["Invoice No", "Invoice Date", "Product", "Qty", "Price", ""]
    lines = [",".join(head) + ","]
    for s in ss:
        for i in s.items:
            lines.append(",".join([s.txn, s.when.strftime("%Y-%m-%d"), i["product"],
                                   qty_text(i["qty"]), str(i["unit"]), "", ""]))
        lines.append(",,,,,,")
        lines.append("")
    write("trailing_delimiters.csv", ("\n".join(lines) + "\n").encode())
    entry("trailing_delimiters.csv", "csv", ss, {
        "Invoice No": "transaction_id", "Invoice Date": "timestamp", "Product": "product",
        "Qty": "quantity", "Price": "unit_price"})


def mdy_ampm():
    ss = sales(6, prefix="M", start=dt.datetime(2025, 3, 14, 6, 0))
    head = ["Trans ID", "Transaction Date", "Product", "Qty", "Unit Price", "Total"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, "%d/%d/%d %s" % (s.when.month, s.when.day, s.when.year,
                                                 s.when.strftime("%I:%M %p").lstrip("0")),
                         i["product"], qty_text(i["qty"]), str(i["unit"]), str(i["line"])])
    write("mdy_12_hour_times.csv", csv_text(rows).encode())
    w = ss[0].when
    entry("mdy_12_hour_times.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "unit_price", "total_amount"])),
        first_timestamp=w.replace(second=0).strftime("%Y-%m-%dT%H:%M:%S+08:00"))


def epoch(unit):
    ss = sales(5, prefix="E" + unit)
    head = ["id", "timestamp", "store_id", "product", "qty", "amount"]
    rows = [head]
    for s in ss:
        secs = int((s.when - dt.timedelta(hours=8)).replace(tzinfo=dt.timezone.utc).timestamp())
        stamp = secs if unit == "s" else secs * 1000 + 250
        for i in s.items:
            rows.append([s.txn, str(stamp), s.store, i["product"], qty_text(i["qty"]), str(i["line"])])
    name = "epoch_%s.csv" % ("seconds" if unit == "s" else "millis")
    write(name, csv_text(rows).encode())
    entry(name, "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "store_id", "product", "quantity", "total_amount"])),
        first_timestamp=(ss[0].when - dt.timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if unit == "s" else None)


def refund_parentheses():
    ss = sales(5, prefix="RF", max_items=1)
    head = ["Reference No", "Date", "Product", "Qty", "Amount"]
    rows = [head]
    for s in ss:
        i = s.items[0]
        rows.append([s.txn, s.when.strftime("%Y-%m-%d"), i["product"], qty_text(i["qty"]),
                     comma_money(i["line"])])
    # A refund of the third sale, written as accountants do.
    third = ss[2]
    refund = Sale(third.txn + "-R", third.when + dt.timedelta(hours=1), third.store, third.device,
                  third.payment, third.age, third.gender,
                  [dict(third.items[0], qty=Decimal(1), line=-third.items[0]["line"])])
    rows.append([refund.txn, refund.when.strftime("%Y-%m-%d"), third.items[0]["product"], "1",
                 "(" + comma_money(third.items[0]["line"]) + ")"])
    write("refund_parentheses.csv", csv_text(rows).encode())
    all_ss = ss + [refund]
    entry("refund_parentheses.csv", "csv", all_ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "total_amount"])),
        issues=["negative_amounts"])


def gcash_settlement():
    ss = sales(8, prefix="GC", max_items=1)
    head = ["Reference Number", "Date", "Description", "Channel", "Amount"]
    rows = [head]
    for s in ss:
        s.payment = rng.choice(["GCash", "Maya", "GCash"])
        rows.append([s.txn, s.when.strftime("%Y-%m-%d %H:%M:%S"), s.items[0]["product"], s.payment,
                     str(s.total())])
    write("gcash_settlement.csv", csv_text(rows).encode())
    # One item per sale: quantity is not in the file, each line is one item of its amount.
    for s in ss:
        s.items[0]["line"] = s.total()
    entry("gcash_settlement.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "payment_method", "total_amount"])))


def repeated_receipt_total():
    ss = sales(6, prefix="RC", max_items=3)
    head = ["Receipt No", "Date", "Item", "Qty", "Unit Price", "Receipt Total"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%Y-%m-%d"), i["product"], qty_text(i["qty"]),
                         str(i["unit"]), str(s.total())])
    write("repeated_receipt_total.csv", csv_text(rows).encode())
    entry("repeated_receipt_total.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "unit_price", "total_amount"])))


def abbreviations():
    ss = sales(7, prefix="A")
    head = ["Txn No", "Date", "SKU", "SKU Desc", "Qty", "U/Price", "Amt", "MOP"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%Y-%m-%d %H:%M"), i["sku"], i["product"],
                         qty_text(i["qty"]), str(i["unit"]), str(i["line"]), s.payment])
    write("abbreviated_headers.csv", csv_text(rows).encode())
    entry("abbreviated_headers.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "sku", "product", "quantity", "unit_price", "total_amount",
        "payment_method"])))


def customer_demographics():
    ss = sales(8, prefix="CD")
    head = ["Transaction ID", "Date", "Store Code", "Terminal ID", "Category", "Product Name",
            "Quantity", "Price", "Customer Age", "Gender"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%Y-%m-%d %H:%M:%S"), s.store, s.device,
                         i["category"], i["product"], qty_text(i["qty"]), str(i["unit"]),
                         str(s.age), {"M": "Male", "F": "Female"}[s.gender]])
    write("customer_demographics.csv", csv_text(rows).encode())
    entry("customer_demographics.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "store_id", "device_id", "category", "product", "quantity",
        "unit_price", "customer_age", "gender"])))


def excel_serial_dates():
    ss = sales(5, prefix="XS")
    head = ["Sales ID", "Date", "Product", "Quantity", "Line Total"]
    rows = [head]
    base = dt.datetime(1899, 12, 30)
    for s in ss:
        serial = (s.when.replace(hour=0, minute=0, second=0) - base).days
        for i in s.items:
            rows.append([s.txn, str(serial), i["product"], qty_text(i["qty"]), str(i["line"])])
    write("excel_serial_dates.csv", csv_text(rows).encode())
    entry("excel_serial_dates.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "total_amount"])),
        first_timestamp=ss[0].when.strftime("%Y-%m-%dT00:00:00+08:00"))


def dmy_separate_time():
    ss = sales(6, prefix="DT", start=dt.datetime(2025, 3, 13, 6, 0))
    head = ["Receipt", "Date", "Time", "Brand", "Product", "Pcs", "Price Each", "Payment Type"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%d/%m/%Y"), s.when.strftime("%H:%M:%S"), i["brand"],
                         i["product"], qty_text(i["qty"]), str(i["unit"]), s.payment])
    write("dmy_separate_time.csv", csv_text(rows).encode())
    entry("dmy_separate_time.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "date", "time", "brand", "product", "quantity", "unit_price",
        "payment_method"])), first_timestamp=ss[0].when.strftime("%Y-%m-%dT%H:%M:%S+08:00"))


def decimal_quantities():
    ss = sales(6, prefix="KG", decimal_qty=True)
    head = ["Transaction", "Date", "Product", "Quantity (kg/pcs)", "Price per Unit", "Amount"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%Y-%m-%d"), i["product"], str(i["qty"]),
                         str(i["unit"]), str(i["line"])])
    write("decimal_quantities.csv", csv_text(rows).encode())
    entry("decimal_quantities.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "unit_price", "total_amount"])))


def headerless():
    ss = sales(6, prefix="H", max_items=1)
    rows = []
    for s in ss:
        rows.append([s.when.strftime("%Y-%m-%d"), s.items[0]["product"], str(s.total()), s.payment])
    write("headerless_export.csv", csv_text(rows).encode())
    entry("headerless_export.csv", "csv", None, {
        "column_1": "timestamp", "column_4": "payment_method"},
        needs_review=True, transactions=6, items=6, revenue_centavos=None)


def skip_rows_option():
    ss = sales(5, prefix="SK")
    head = ["Txn ID", "Date", "Product", "Qty", "Price"]
    rows = [["Report", "Weekly Sales", "", "", ""], ["Branch", "Cubao", "", "", ""], head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%Y-%m-%d"), i["product"], qty_text(i["qty"]),
                         str(i["unit"])])
    write("weekly_with_labels_skip2.csv", csv_text(rows).encode())
    entry("weekly_with_labels_skip2.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "unit_price"])),
        options={"skipRows": 2})


def interleaved_rows():
    ss = sales(5, prefix="IL", max_items=3)
    head = ["Transaction ID", "Date", "Product", "Qty", "Price"]
    rows = []
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%Y-%m-%d %H:%M"), i["product"], qty_text(i["qty"]),
                         str(i["unit"])])
    rng.shuffle(rows)
    write("interleaved_items.csv", csv_text([head] + rows).encode())
    entry("interleaved_items.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "unit_price"])))


def semicolon_subtotals():
    ss = sales(4, prefix="ST", max_items=2)
    head = ["Transaksyon", "Petsa", "Paninda", "Bilang", "Kabuuang Halaga"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.txn, s.when.strftime("%Y-%m-%d"), i["product"], qty_text(i["qty"]),
                         euro_money(i["line"])])
        rows.append(["Subtotal", "", "", "", euro_money(s.total())])
    rows.append(["Kabuuan", "", "", "", euro_money(sum((s.total() for s in ss), Decimal(0)))])
    write("branch_subtotals.csv", csv_text(rows, ";").encode())
    entry("branch_subtotals.csv", "csv", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "total_amount"])),
        summary_rows=len(ss) + 1, issues=["summary_rows"])


def cloud_pos_receipts():
    # The receipts export of a cloud POS many small shops use: one row per item, a gross and a
    # net sales column, refunds as their own receipt type, a cashier and a comment.
    ss = sales(7, prefix="1-1")
    head = ["Date", "Receipt number", "Receipt type", "Category", "SKU", "Item", "Variant",
            "Quantity", "Gross sales", "Discounts", "Net sales", "Cost of goods", "POS", "Store",
            "Cashier name", "Comment"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append(["%d/%d/%s %s" % (s.when.month, s.when.day, s.when.strftime("%y"),
                                          s.when.strftime("%I:%M %p").lstrip("0")),
                         s.txn, "Sale", i["category"], i["sku"][4:], i["product"], "",
                         qty_text(i["qty"]), str(i["line"]), "0.00", str(i["line"]),
                         str((i["line"] * Decimal("0.8")).quantize(CENT)), "POS 1",
                         "Cubao", "Ana", ""])
    write("cloud_pos_receipts.csv", csv_text(rows).encode())
    entry("cloud_pos_receipts.csv", "csv", ss, {
        "Date": "timestamp", "Receipt number": "transaction_id", "Category": "category",
        "SKU": "sku", "Item": "product", "Quantity": "quantity", "Store": "store_id"},
        unmapped=["Cashier name", "Comment", "Variant"])


def erp_upper_case():
    ss = sales(6, prefix="INV")
    head = ["TRANSACTION_DATE", "DOC_NO", "BRANCH_CODE", "ITEM_CODE", "ITEM_DESCRIPTION",
            "UOM", "QTY_SOLD", "UNIT_PRICE", "NET_AMOUNT"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.when.strftime("%Y%m%d"), s.txn, s.store, i["sku"], i["product"].upper(),
                         "PC", qty_text(i["qty"]), str(i["unit"]), str(i["line"])])
    write("erp_extract_upper.txt", csv_text(rows, "\t").encode())
    entry("erp_extract_upper.txt", "tsv", ss, {
        "TRANSACTION_DATE": "timestamp", "DOC_NO": "transaction_id", "BRANCH_CODE": "store_id", "ITEM_CODE": "sku",
        "ITEM_DESCRIPTION": "product", "QTY_SOLD": "quantity", "UNIT_PRICE": "unit_price",
        "NET_AMOUNT": "total_amount"}, first_timestamp=ss[0].when.strftime("%Y-%m-%dT00:00:00+08:00"))


def units_in_cells():
    ss = sales(6, prefix="UC")
    head = ["Petsa ng Benta", "Pangalan ng Produkto", "Ilan", "Halaga (PHP)", "Bayad via"]
    rows = [head]
    for s in ss:
        for i in s.items:
            rows.append([s.when.strftime("%b %d, %Y"), i["product"],
                         "%s %s" % (qty_text(i["qty"]), "pc" if i["qty"] == 1 else "pcs"),
                         comma_money(i["line"], "₱ "), s.payment])
    n = item_count(ss)
    write("units_in_cells.csv", csv_text(rows).encode())
    entry("units_in_cells.csv", "csv", None, dict(zip(head, [
        "timestamp", "product", "quantity", "total_amount", "payment_method"])),
        transactions=n, items=n, revenue_centavos=revenue(ss))


# ---------------------------------------------------------------------------- JSON

def json_array_nested():
    ss = sales(6, prefix="J")
    docs = []
    for s in ss:
        docs.append({"id": s.txn, "store_id": s.store, "datetime": s.when.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
                     "payment": s.payment,
                     "items": [{"brand": i["brand"], "product": i["product"], "qty": float(i["qty"]),
                                "price": float(i["unit"])} for i in s.items]})
    write("supplier_orders.json", json.dumps(docs, indent=2, ensure_ascii=False).encode())
    entry("supplier_orders.json", "json", ss, {
        "id": "transaction_id", "store_id": "store_id", "datetime": "timestamp",
        "payment": "payment_method", "items.brand": "brand", "items.product": "product",
        "items.qty": "quantity", "items.price": "unit_price"}, sub_kind="array")


def json_wrapped():
    ss = sales(7, prefix="W", max_items=1)
    records = [{"receiptNo": s.txn, "saleDate": s.when.strftime("%Y-%m-%d %H:%M:%S"),
                "productName": s.items[0]["product"], "quantity": int(s.items[0]["qty"]),
                "totalAmount": str(s.items[0]["line"]), "paymentMethod": s.payment} for s in ss]
    doc = {"status": "ok", "generated": "2025-04-01T00:00:00Z", "count": len(records), "data": records}
    write("api_wrapped.json", json.dumps(doc).encode())
    entry("api_wrapped.json", "json", ss, {
        "receiptNo": "transaction_id", "saleDate": "timestamp", "productName": "product",
        "quantity": "quantity", "totalAmount": "total_amount", "paymentMethod": "payment_method"},
        sub_kind="wrapped")


def ndjson(name):
    ss = sales(8, prefix="N")
    lines = []
    for s in ss:
        for i in s.items:
            lines.append(json.dumps({"transaction_id": s.txn, "timestamp": int(
                (s.when - dt.timedelta(hours=8)).replace(tzinfo=dt.timezone.utc).timestamp() * 1000),
                "store": s.store, "brand": i["brand"], "item": i["product"],
                "quantity": int(i["qty"]), "unit_price": float(i["unit"]),
                "payment_method": s.payment}, ensure_ascii=False))
    write(name, ("\n".join(lines) + "\n").encode())
    entry(name, "json", ss, {
        "transaction_id": "transaction_id", "timestamp": "timestamp", "store": "store_id",
        "brand": "brand", "item": "product", "quantity": "quantity", "unit_price": "unit_price",
        "payment_method": "payment_method"}, sub_kind="ndjson")


def json_nested_objects():
    ss = sales(5, prefix="NO")
    docs = []
    for s in ss:
        docs.append({"transaction": {"id": s.txn, "date": s.when.strftime("%Y-%m-%d %H:%M")},
                     "store": {"id": s.store, "name": "Sari-Sari " + s.store},
                     "customer": {"age": s.age, "gender": s.gender},
                     "payment": {"method": s.payment},
                     "line_items": [{"sku": i["sku"], "name": i["product"], "qty": int(i["qty"]),
                                     "amount": float(i["line"])} for i in s.items]})
    write("pos_nested.json", json.dumps(docs).encode())
    entry("pos_nested.json", "json", ss, {
        "transaction.id": "transaction_id", "transaction.date": "timestamp",
        "store.id": "store_id", "customer.age": "customer_age", "customer.gender": "gender",
        "payment.method": "payment_method", "line_items.sku": "sku", "line_items.name": "product",
        "line_items.qty": "quantity", "line_items.amount": "total_amount"}, sub_kind="array")


def json_wrong_extension():
    ss = sales(4, prefix="JX", max_items=1)
    docs = [{"Transaction ID": s.txn, "Date": s.when.strftime("%Y-%m-%d"), "Product": s.items[0]["product"],
             "Qty": int(s.items[0]["qty"]), "Amount": comma_money(s.items[0]["line"], "₱")} for s in ss]
    write("exported_really_json.csv", json.dumps(docs, ensure_ascii=False).encode())
    entry("exported_really_json.csv", "json", ss, {
        "Transaction ID": "transaction_id", "Date": "timestamp", "Product": "product",
        "Qty": "quantity", "Amount": "total_amount"}, sub_kind="array")


# ---------------------------------------------------------------------------- XML

def xml_elements():
    ss = sales(5, prefix="XE")
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<SalesReport>", "  <Header><Store>Cubao</Store></Header>"]
    for s in ss:
        for i in s.items:
            out.append("  <Sale><TransactionID>%s</TransactionID><Date>%s</Date><Product>%s</Product>"
                       "<Quantity>%s</Quantity><UnitPrice>%s</UnitPrice><PaymentMethod>%s</PaymentMethod></Sale>"
                       % (s.txn, s.when.strftime("%Y-%m-%d %H:%M:%S"),
                          i["product"].replace("&", "&amp;"), qty_text(i["qty"]), i["unit"], s.payment))
    out.append("</SalesReport>")
    write("sales_elements.xml", "\n".join(out).encode())
    entry("sales_elements.xml", "xml", ss, {
        "TransactionID": "transaction_id", "Date": "timestamp", "Product": "product",
        "Quantity": "quantity", "UnitPrice": "unit_price", "PaymentMethod": "payment_method"})


def xml_attributes():
    ss = sales(5, prefix="XA")
    out = ['<?xml version="1.0"?>', '<transactions source="branch-pos">']
    for s in ss:
        out.append('  <transaction id="%s" store="%s" date="%s" payment="%s">' % (
            s.txn, s.store, s.when.strftime("%Y-%m-%dT%H:%M:%S"), s.payment))
        out.append("    <items>")
        for i in s.items:
            out.append('      <item sku="%s" brand="%s" qty="%s" price="%s"/>' % (
                i["sku"], i["brand"], qty_text(i["qty"]), i["unit"]))
        out.append("    </items>")
        out.append("  </transaction>")
    out.append("</transactions>")
    write("branch_attributes.xml", "\n".join(out).encode())
    entry("branch_attributes.xml", "xml", ss, {
        "id": "transaction_id", "store": "store_id", "date": "timestamp", "payment": "payment_method",
        "items.sku": "sku", "items.brand": "brand", "items.qty": "quantity", "items.price": "unit_price"})


def xml_namespaced_wrong_ext():
    ss = sales(4, prefix="XN", max_items=1)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<ns:Export xmlns:ns="urn:example:pos">']
    for s in ss:
        out.append("<ns:Row><ns:ReceiptNo>%s</ns:ReceiptNo><ns:SaleDate>%s</ns:SaleDate>"
                   "<ns:ItemName>%s</ns:ItemName><ns:Amount>%s</ns:Amount></ns:Row>" % (
                       s.txn, s.when.strftime("%Y-%m-%d"), s.items[0]["product"], s.items[0]["line"]))
    out.append("</ns:Export>")
    write("namespaced_export.dat", "\n".join(out).encode())
    for s in ss:
        s.items[0]["qty"] = Decimal(1)
    entry("namespaced_export.dat", "xml", ss, {
        "ReceiptNo": "transaction_id", "SaleDate": "timestamp", "ItemName": "product",
        "Amount": "total_amount"})


# ---------------------------------------------------------------------------- Excel

def xlsx_files():
    import openpyxl
    ss = sales(7, prefix="XL")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sales"
    head = ["Transaction ID", "Date", "Store", "Brand", "Product", "Qty", "Unit Price", "Amount",
            "Payment Method"]
    ws.append(head)
    for s in ss:
        for i in s.items:
            ws.append([s.txn, s.when, s.store, i["brand"], i["product"], int(i["qty"]), float(i["unit"]),
                       float(i["line"]), s.payment])
    wb.save(os.path.join(HERE, "branch_report.xlsx"))
    entry("branch_report.xlsx", "excel", ss, dict(zip(head, [
        "transaction_id", "timestamp", "store_id", "brand", "product", "quantity", "unit_price",
        "total_amount", "payment_method"])), sub_kind="xlsx",
        first_timestamp=ss[0].when.strftime("%Y-%m-%dT%H:%M:%S+08:00"))

    # A cover sheet, then a report sheet with title rows and a total row.
    ss2 = sales(5, prefix="CV")
    wb = openpyxl.Workbook()
    cover = wb.active
    cover.title = "Cover"
    cover["A1"] = "Monthly Branch Report - CONFIDENTIAL"
    ws = wb.create_sheet("Report")
    ws.append(["Sari-Sari Chain Inc."])
    ws.append(["March 2025 Sales"])
    ws.append([])
    head2 = ["Petsa", "Resibo", "Produkto", "Dami", "Halaga"]
    ws.append(head2)
    for s in ss2:
        for i in s.items:
            ws.append([s.when.date(), s.txn, i["product"], int(i["qty"]), float(i["line"])])
    ws.append(["Kabuuan", None, None, None, float(sum((s.total() for s in ss2), Decimal(0)))])
    wb.save(os.path.join(HERE, "cover_sheet_then_report.xlsx"))
    entry("cover_sheet_then_report.xlsx", "excel", ss2, dict(zip(head2, [
        "timestamp", "transaction_id", "product", "quantity", "total_amount"])), sub_kind="xlsx",
        summary_rows=1, issues=["summary_rows"])

    # Two data sheets; the caller names the second.
    ss3 = sales(4, prefix="FEB")
    ss4 = sales(6, prefix="MAR")
    wb = openpyxl.Workbook()
    for title, group in (("February", ss3), ("March", ss4)):
        ws = wb.active if title == "February" else wb.create_sheet(title)
        ws.title = title
        ws.append(["Order No", "Order Date", "Item", "Quantity", "Price"])
        for s in group:
            for i in s.items:
                ws.append([s.txn, s.when.strftime("%m/%d/%Y"), i["product"], int(i["qty"]), float(i["unit"])])
    wb.save(os.path.join(HERE, "two_months.xlsx"))
    entry("two_months.xlsx", "excel", ss4, {
        "Order No": "transaction_id", "Order Date": "timestamp", "Item": "product",
        "Quantity": "quantity", "Price": "unit_price"}, sub_kind="xlsx", options={"sheetName": "March"})

    # An xlsx saved with a .csv name.
    import shutil
    shutil.copy(os.path.join(HERE, "branch_report.xlsx"), os.path.join(HERE, "report_saved_as.csv"))
    e = dict(MANIFEST[[m["name"] for m in MANIFEST].index("branch_report.xlsx")])
    e["name"] = "report_saved_as.csv"
    MANIFEST.append(e)

    # Truncated workbook.
    data = open(os.path.join(HERE, "branch_report.xlsx"), "rb").read()
    write("truncated.xlsx", data[: len(data) // 2])
    entry("truncated.xlsx", "excel", error="damaged")


def xls_legacy():
    import xlwt
    ss = sales(6, prefix="OLD")
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Benta")
    head = ["Transaction No", "Date", "Product", "Qty", "Price", "Total", "Payment"]
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM")
    for c, h in enumerate(head):
        ws.write(0, c, h)
    r = 1
    for s in ss:
        for i in s.items:
            ws.write(r, 0, s.txn)
            ws.write(r, 1, s.when, date_style)
            ws.write(r, 2, i["product"])
            ws.write(r, 3, int(i["qty"]))
            ws.write(r, 4, float(i["unit"]))
            ws.write(r, 5, float(i["line"]))
            ws.write(r, 6, s.payment)
            r += 1
    wb.save(os.path.join(HERE, "legacy_pos.xls"))
    entry("legacy_pos.xls", "excel", ss, dict(zip(head, [
        "transaction_id", "timestamp", "product", "quantity", "unit_price", "total_amount",
        "payment_method"])), sub_kind="xls",
        first_timestamp=ss[0].when.strftime("%Y-%m-%dT%H:%M:%S+08:00"))


# ---------------------------------------------------------------------------- Parquet

def parquet_files():
    import pyarrow as pa
    import pyarrow.parquet as pq
    ss = sales(9, prefix="PQ")
    cols = {"transaction_id": [], "sold_at": [], "store_id": [], "brand": [], "product": [],
            "category": [], "quantity": [], "unit_price": [], "line_amount": [], "payment_method": []}
    for s in ss:
        for i in s.items:
            cols["transaction_id"].append(s.txn)
            cols["sold_at"].append((s.when - dt.timedelta(hours=8)).replace(tzinfo=dt.timezone.utc))
            cols["store_id"].append(s.store)
            cols["brand"].append(i["brand"])
            cols["product"].append(i["product"])
            cols["category"].append(i["category"])
            cols["quantity"].append(int(i["qty"]))
            cols["unit_price"].append(i["unit"])
            cols["line_amount"].append(i["line"])
            cols["payment_method"].append(s.payment)
    table = pa.table({
        "transaction_id": pa.array(cols["transaction_id"], pa.string()),
        "sold_at": pa.array(cols["sold_at"], pa.timestamp("ms", tz="UTC")),
        "store_id": pa.array(cols["store_id"], pa.string()),
        "brand": pa.array(cols["brand"], pa.string()),
        "product": pa.array(cols["product"], pa.string()),
        "category": pa.array(cols["category"], pa.string()),
        "quantity": pa.array(cols["quantity"], pa.int32()),
        "unit_price": pa.array(cols["unit_price"], pa.decimal128(10, 2)),
        "line_amount": pa.array(cols["line_amount"], pa.decimal128(12, 2)),
        "payment_method": pa.array(cols["payment_method"], pa.string()),
    })
    pq.write_table(table, os.path.join(HERE, "warehouse_extract.parquet"), compression="snappy")
    entry("warehouse_extract.parquet", "parquet", ss, {
        "transaction_id": "transaction_id", "sold_at": "timestamp", "store_id": "store_id",
        "brand": "brand", "product": "product", "category": "category", "quantity": "quantity",
        "unit_price": "unit_price", "line_amount": "total_amount", "payment_method": "payment_method"},
        first_timestamp=(ss[0].when - dt.timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%SZ"))

    ss2 = sales(5, prefix="PN")
    table = pa.table({
        "order_id": pa.array([s.txn for s in ss2]),
        "order_date": pa.array([s.when.date() for s in ss2], pa.date32()),
        "items": pa.array([[{"sku": i["sku"], "qty": float(i["qty"]), "amount": float(i["line"])}
                            for i in s.items] for s in ss2]),
    })
    pq.write_table(table, os.path.join(HERE, "nested_orders.parquet"), compression="none")
    entry("nested_orders.parquet", "parquet", ss2, {
        "order_id": "transaction_id", "order_date": "timestamp", "items.sku": "sku",
        "items.qty": "quantity", "items.amount": "total_amount"})

    # pandas' way: naive datetimes (wall-clock Manila time, not adjusted to UTC), float money.
    ss3 = sales(6, prefix="PD")
    flat = [(s, i) for s in ss3 for i in s.items]
    table = pa.table({
        "txn_no": pa.array([s.txn for s, _ in flat]),
        "datetime": pa.array([s.when for s, _ in flat], pa.timestamp("us")),
        "item_name": pa.array([i["product"] for _, i in flat]),
        "qty": pa.array([float(i["qty"]) for _, i in flat], pa.float64()),
        "amount": pa.array([float(i["line"]) for _, i in flat], pa.float64()),
    })
    pq.write_table(table, os.path.join(HERE, "pandas_naive_times.parquet"))
    entry("pandas_naive_times.parquet", "parquet", ss3, {
        "txn_no": "transaction_id", "datetime": "timestamp", "item_name": "product",
        "qty": "quantity", "amount": "total_amount"},
        first_timestamp=ss3[0].when.strftime("%Y-%m-%dT%H:%M:%S+08:00"))

    data = open(os.path.join(HERE, "warehouse_extract.parquet"), "rb").read()
    write("truncated.parquet", data[: int(len(data) * 0.6)])
    entry("truncated.parquet", "parquet", error="damaged")


# ---------------------------------------------------------------------------- bad inputs

def bad_inputs():
    write("empty.csv", b"")
    entry("empty.csv", "text", error="empty")
    write("header_only.csv", b"Transaction ID,Date,Product,Qty,Amount\r\n")
    entry("header_only.csv", "csv", error="no_rows")
    garbage = bytes(rng.randrange(256) for _ in range(3000))
    write("binary_garbage.csv", garbage)
    entry("binary_garbage.csv", "text", error="not_a_table")
    write("meeting_notes.txt", (
        "Hi team,\n\nPlease find attached the sales for this week. The branch in Cubao had a "
        "power outage on Tuesday, so some receipts were written by hand. I will send the "
        "corrected file tomorrow.\n\nThanks, and keep safe!\nMarites\n").encode())
    entry("meeting_notes.txt", "text", error="not_a_table")
    # A zip bomb disguised as a workbook: a real xl/workbook.xml and a sheet of zeros whose
    # directory entry says it inflates to 4 GB (kept small on disk: 8 MB of zeros really).
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook><sheets><sheet name='S' sheetId='1'/></sheets></workbook>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (8 << 20))
    data = bytearray(buf.getvalue())
    name = b"xl/worksheets/sheet1.xml"
    claimed = (0xFFFFFFF0).to_bytes(4, "little")
    local = data.find(b"PK\x03\x04" + data[4:4])  # first local header
    while local != -1:
        n = int.from_bytes(data[local + 26:local + 28], "little")
        if data[local + 30:local + 30 + n] == name:
            data[local + 22:local + 26] = claimed
        local = data.find(b"PK\x03\x04", local + 4)
    central = data.find(b"PK\x01\x02")
    while central != -1:
        n = int.from_bytes(data[central + 28:central + 30], "little")
        if data[central + 46:central + 46 + n] == name:
            data[central + 24:central + 28] = claimed
        central = data.find(b"PK\x01\x02", central + 4)
    write("zip_bomb.xlsx", bytes(data))
    entry("zip_bomb.xlsx", "excel", error="zip_bomb")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("readme.txt", "not a workbook")
    write("plain_archive.zip", buf.getvalue())
    entry("plain_archive.zip", "text", error="not_a_table")
    good = open(os.path.join(HERE, "supplier_orders.json"), "rb").read()
    cut = good[: len(good) * 2 // 3]
    write("truncated.json", cut)
    entry("truncated.json", "json", error="syntax", error_line=cut.count(b"\n") + 1)
    write("truncated.xml", b'<?xml version="1.0"?>\n<rows>\n<row><a>1</a></row>\n<row><a>2</a>\n')
    entry("truncated.xml", "xml", error="syntax", error_line=4)


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int,)):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join("%s = %s" % (json.dumps(k), toml_value(x)) for k, x in v.items()) + " }"
    return json.dumps(v, ensure_ascii=False)


def main():
    for f in os.listdir(HERE):
        if f not in ("generate.py", "README.md"):
            os.remove(os.path.join(HERE, f))
    basic_csv(); semicolon_decimal_comma(); pipe_wrong_extension(); tsv_basic()
    title_rows_and_total(); taglish_headers(); windows_1252(); utf16_tab_unicode_text(); utf16_be()
    utf8_bom_peso(); quoted_newlines(); numbered_headers_no_id(); trailing_delimiters_blank_rows()
    mdy_ampm(); epoch("s"); epoch("ms"); refund_parentheses(); gcash_settlement()
    repeated_receipt_total(); abbreviations(); customer_demographics(); excel_serial_dates()
    dmy_separate_time(); decimal_quantities(); headerless(); skip_rows_option(); interleaved_rows()
    semicolon_subtotals(); cloud_pos_receipts(); erp_upper_case(); units_in_cells()
    json_array_nested(); json_wrapped(); ndjson("pos_stream.ndjson"); ndjson("stream_named.log")
    json_nested_objects(); json_wrong_extension()
    xml_elements(); xml_attributes(); xml_namespaced_wrong_ext()
    xlsx_files(); xls_legacy(); parquet_files(); bad_inputs()
    out = ["# Written by generate.py: the expected reading of every file in this folder.", ""]
    for e in MANIFEST:
        out.append("[[file]]")
        for k, v in e.items():
            if k == "mapping" or v is None:
                continue
            out.append("%s = %s" % (k, toml_value(v)))
        if "mapping" in e:
            out.append("[file.mapping]")
            for k, v in e["mapping"].items():
                out.append("%s = %s" % (json.dumps(k, ensure_ascii=False), json.dumps(v)))
        out.append("")
    with open(os.path.join(HERE, "manifest.toml"), "w", encoding="utf-8") as f:
        f.write("\n".join(out))
    print("%d files" % len(MANIFEST))


if __name__ == "__main__":
    main()
