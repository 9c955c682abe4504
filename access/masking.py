"""Masking of sensitive values for roles that may know a value exists but not read it."""


def mask(value):
    """'13812345678' -> '138****5678'; '110101199001011234' -> '110***********1234'.

    Long values keep three leading and four trailing characters, short ones keep the
    first and last, so staff can confirm a number a caller reads out without seeing it.
    """
    if value is None or value == "":
        return ""
    text = str(value)
    if len(text) >= 8:
        return text[:3] + "*" * (len(text) - 7) + text[-4:]
    if len(text) >= 3:
        return text[0] + "*" * (len(text) - 2) + text[-1]
    return text[0] + "*" * (len(text) - 1)
