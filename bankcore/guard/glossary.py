"""Orders written in other languages, read in English (`gloss`): the guard's English rules and the structural lesson
checks then apply to them unchanged.

A small multilingual lexicon of the concepts injections and poisoned lessons are made of — ignore, instructions and
rules, a note addressed to the assistant, without confirmation or identity checks, skip, refund, transfer, the full
amount, balance, account, password, card number, reveal, send, always, never — in Turkish, Polish, Czech, Romanian,
Swedish, Indonesian, Vietnamese, Greek, Ukrainian, Russian, Hebrew, Arabic, Persian, Hindi (and romanised Hindi),
Thai, Korean, Japanese, Chinese, Portuguese, Italian, Dutch, Spanish, French and German. Each sentence is read as
the English words of the concepts it holds, in order (digits and addresses kept); a sentence that tells its reader
to ignore its instructions reads as "ignore all previous instructions" whatever the word order.

Looked for only when a text has non-ASCII letters or an ASCII word of the lexicon; empty unless two concepts match.
"""

from __future__ import annotations

import functools
import re
import unicodedata

MAX_CHARS = 16384  # characters of foreign-language text read per text
WINDOW = 300  # characters read either side of a foreign word

# (English, forms). A form is a regex over folded text (lower case, Latin/Greek/Cyrillic accents dropped); a form
# that starts with a Latin, Greek or Cyrillic letter matches at a word start and may take any ending.
_LEXICON: tuple[tuple[str, str], ...] = (
    ("note for the assistant:",
     r"(?:yapay zeka |ai )?asistan\w* (?:not|icin)|uwaga dla (?:asystent|ai)|(?:notatka|wiadomosc) dla asystent|"
     r"(?:poznamka|zprava|pokyn) pro (?:asistent|ai)|(?:nota|mesaj|instructiun\w*) pentru asistent|"
     r"till (?:ai|assistent|agent)|(?:catatan|pesan|instruksi) (?:untuk|bagi) (?:asisten|ai|agen)|"
     r"(?:ghi chu|luu y|loi nhan) (?:cho|gui) (?:tro ly|ai)|gui tro ly|σημειωση για τον βοηθο|προς τον βοηθο|"
     r"για τον βοηθο|για το ai|для (?:асистента|помічника|ассистента|помощника|ші|ии)|асистенту|ассистенту|"
     r"הוראה לעוזר|הערה לעוזר|לעוזר|للمساعد|إلى المساعد|الى المساعد|تعليمات للمساعد|برای دستیار|به دستیار|"
     r"सहायक के लिए|एआई सहायक|assistant ke liye|ai ke liye|ถึงผู้ช่วย|สำหรับผู้ช่วย|ถึง ai|어시스턴트에게|ai에게|"
     r"assistente?s? (?:de )?ia|para (?:o|a) assistente|per l'assistente|voor de assistent|para el asistente|"
     r"pour l'assistant|fur den assistenten|an den assistenten"),
    ("skip the identity verification",
     r"atla|atlayin|es gec\w*|pomin|pomij|preskoc|sari peste|hoppa over|lewati|bo qua buoc xac minh|παρακαμψ|пропуска\w*|"
     r"пропусти|דלג|تخطى|تجاوز|छोड़ दें|ข้าม|건너뛰|スキップ|跳过|pule|salta|sla over|omite|saute|uberspring"),
    ("ignore",
     r"yok say|gormezden gel|dikkate alma|zignoruj|ignoruj|ignoruje|ignora|ignorera|strunta i|glom|"
     r"abaikan|lupakan|bo qua|αγνοησ|αγνοηστ|ξεχασ|ігнору|игнорир|забудь|забудьте|zapomen|התעלם|שכח|تجاهل|"
     r"نادیده|अनदेखा|नज़रअंदाज़|नजरअंदाज|bhool jao|bhul jao|nazarandaz|ไม่ต้องสนใจ|เพิกเฉย|무시|無視|忽略|无视|"
     r"negeer|vergeet|olvida|oublie|ignoriere|vergiss|dimentica|esqueca"),
    ("instructions",
     r"talimat|kural|yonerge|instrukcj|polecen|zasad|pokyn|pravidl|instructiun|reguli|instruktion|regler|"
     r"instruksi|petunjuk|aturan|perintah|huong dan|chi thi|quy tac|quy dinh|οδηγι|κανον|інструкці|правил|вказівк|"
     r"инструкци|указани|ההוראות|הוראות|הכללים|التعليمات|تعليمات|القواعد|الأوامر|دستورالعمل|دستورات|قوانین|निर्देश|"
     r"नियम|nirdesh|niyam|คำสั่ง|กฎ|지시|규칙|지침|指示|ルール|規則|指令|规则|instrucoes|instrucciones|istruzion|regole|regras|"
     r"instructies|regels|reglas|consignes|anweisungen|regeln"),
    ("without confirmation",
     r"(?:onay|teyit|izin)\w* (?:istemeden|almadan|sormadan|olmadan|gerekmeden)|bez (?:potwierdzeni|potvrzen|zgody|"
     r"souhlas)\w*|fara (?:confirmare|acord)\w*|utan (?:bekraftelse|godkannande)|tanpa (?:konfirmasi|persetujuan)|"
     r"jangan (?:minta|meminta|tanya)\w* (?:konfirmasi|persetujuan)|(?:ma )?khong can xac nhan|"
     r"χωρις επιβεβαιωση|без підтвердженн\w*|без подтверждени\w*|ללא אישור|בלי אישור|بدون (?:تأكيد|موافقة|تأیید)|"
     r"دون (?:تأكيد|موافقة)|बिना पुष्टि|पुष्टि (?:के )?बिना|bina (?:confirmation|pushti)|โดยไม่(?:ต้อง)?ยืนยัน|"
     r"확인 없이|확인하지 않고|確認なし|无需确认|sem (?:confirmacao|confirmar)|senza (?:conferma|chiedere conferma)|"
     r"zonder bevestiging|sin (?:confirmacion|confirmar)|sans confirmation|ohne bestatigung"),
    ("without identity verification",
     r"kimlik (?:dogrulama|kontrol)\w* (?:yapmadan|olmadan)|bez (?:weryfikacj|overeni|sprawdzeni)\w*|"
     r"fara (?:verificar|verificare)\w*|utan (?:identitetskontroll|verifiering|kontroll)\w*|tanpa (?:verifikasi|"
     r"pemeriksaan)|khong (?:can )?xac minh|χωρις (?:επαληθευση|ελεγχο)|без (?:перевірк|проверк)\w*|ללא (?:אימות|זיהוי)|"
     r"بدون (?:التحقق|تحقق|احراز)|पहचान (?:जाँच|जांच)\w* बिना|बिना (?:पहचान|सत्यापन)|bina verify|"
     r"โดยไม่(?:ต้อง)?(?:ตรวจสอบ|ยืนยันตัวตน)|본인 확인 없이|本人確認なし|sem verificar|senza verific\w*|"
     r"zonder (?:verificatie|controle)|sin verificar|sans verifi\w*|ohne (?:prufung|verifizierung)"),
    ("identity verification",
     r"kimlik|weryfikacj|tozsamos|overeni|totoznost|identit|verifikasi|xac minh danh tinh|ταυτοτητ|особ|личност|זהות|"
     r"الهوية|هویت|पहचान|ตัวตน|본인 확인|本人確認|identidade|identita|identiteit|identidad"),
    ("refund", r"iade|zwroc|zwrot|vrat|ramburs|aterbetala|kembalikan|hoan tien|επιστρεψ|επιστροφ|поверта|поверни|"
               r"поверн|верни|вернуть|החזר|استرد|أعد|بازپرداخت|वापस कर|refund kar|คืนเงิน|환불|返金|退款|reembols|"
               r"rimbors|terugbetal|rembourse|erstatte|zuruckerstatt"),
    ("transfer", r"przelew|przelej|prevod|prevest|vira|overfor|transfe|chuyen|μεταφερ|переказ|переведи|"
                 r"перевести|העבר|حوّل|حول|انتقال|ट्रांसफर|भेज|โอน|송금|振り込|送金|转账|transfira|trasferisci|"
                 r"maak over|transfiere|virez|uberweise"),
    ("the full amount", r"tum tutar|tutarin tamami|pelna kwot|cala kwot|celou castku|cela castka|intreaga suma|"
                        r"hela beloppet|seluruh dana|seluruh jumlah|toan bo|ολα τα χρηματα|ολοκληρο το ποσο|усю суму|"
                        r"всю сумму|מלוא הסכום|كامل المبلغ|المبلغ كاملا|کل مبلغ|पूरा पैसा|पूरी राशि|poora (?:refund|paisa)|"
                        r"เต็มจำนวน|전액|全額|全额|valor total|l'intero importo|het volledige bedrag|el importe total|"
                        r"la totalite|den vollen betrag"),
    ("the balance", r"bakiye|saldo|zustatek|so du|υπολοιπο|залишок|остаток|היתרה|الرصيد|موجودی|बैलेंस|शेष|"
                    r"ยอดคงเหลือ|잔액|残高|余额|solde|guthaben"),
    ("account", r"hesab|konto|ucet|cont|tai khoan|rekening|λογαριασμ|рахун|счет|счёт|חשבון|حساب|खाता|บัญชี|계좌|口座|"
                r"账户|conta|compte"),
    ("the user's password", r"sifre|parol|haslo|heslo|losenord|kata sandi|mat khau|κωδικ|пароль|סיסמ|كلمة (?:المرور|السر)|"
                            r"رمز عبور|पासवर्ड|रहस्य|รหัสผ่าน|비밀번호|パスワード|密码|senha|password|wachtwoord|"
                            r"contrasena|mot de passe|passwort"),
    ("the customer's card number", r"kart numara|numer karty|cislo karty|numarul cardului|kortnummer|nomor kartu|"
                                   r"αριθμο καρτας|номер картк|номер карт|מספר (?:ה)?כרטיס|رقم بطاقة|"
                                   r"شماره کارت|कार्ड नंबर|หมายเลขบัตร|카드 번호|カード番号|卡号|numero do cartao|"
                                   r"numero della carta|kaartnummer|numero de tarjeta|numero de carte|kartennummer"),
    ("reveal", r"ifsa et|ujawnij|podaj|prozrad|dezvalui|avsloja|ungkapkan|beritahu|tiet lo|αποκαλυψ|"
               r"розкрий|повідом|раскрой|сообщи|גלה|חשוף|اكشف|أفصح|فاش|बता|बताएं|เปิดเผย|알려|教えて|透露|revele|"
               r"rivela|onthul|revela|revele|verrate"),
    ("send", r"gonder|wyslij|posli|trimite|skicka|kirim|στειλ|надішли|надішл|отправ|שלח|أرسل|ارسل|ارسال|بفرست|"
             r"भेजें|bhej|ส่ง|보내|送って|发送|envie|invia|stuur|envia|envoie|sende"),
    ("always", r"her zaman|daima|zawsze|vzdy|intotdeauna|alltid|selalu|luon luon|luon|παντα|завжди|всегда|תמיד|"
               r"دائما|همیشه|हमेशा|hamesha|เสมอ|항상|常に|总是|sempre|altijd|siempre|toujours|immer"),
    ("never", r"asla|nigdy|nikdy|niciodata|aldrig|jangan pernah|tidak pernah|khong bao gio|dung|ποτε|μην|ніколи|"
              r"никогда|לעולם אל|אסור|أبدا|لا ت|هرگز|कभी नहीं|कभी न|मत|kabhi nahi|mat karo|ห้าม|อย่า|절대|決して|"
              r"绝不|不要|nunca|mai|nooit|jamais|niemals|nie"),
)

_LATIN_OR_GREEK = re.compile(r"[a-z\u0370-\u03ff\u0400-\u04ff]")
_SENTENCE_END = re.compile(r"[.!?;\n\u3002\u0964\u061f\uff01\uff1f]+")
_FOREIGN = re.compile("[\u00c0-\u024f\u0370-\u06ff\u0900-\u097f\u0e00-\u0e7f\u1e00-\u1eff\u3040-\u30ff"
                      "\u4e00-\u9fff\uac00-\ud7af]")
_KEEP = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+|\b[a-z]{0,4}\d[\d -]*\d\b")


def _fold(text: str) -> str:
    """Lower case, with the accents of Latin, Greek and Cyrillic letters dropped (other scripts' marks kept)."""
    text = unicodedata.normalize("NFKD", text.lower())
    out = []
    for c in text:
        if unicodedata.combining(c) and out and ("a" <= out[-1] <= "z" or "\u0370" <= out[-1] <= "\u04ff"):
            continue
        out.append(c)
    return unicodedata.normalize("NFC", "".join(out)).replace("ı", "i").replace("ł", "l").replace("đ", "d")


def _forms(forms: str) -> list[str]:
    """The top-level alternatives of a regex (a "|" inside a group stays in its form)."""
    out, depth, start = [], 0, 0
    for i, c in enumerate(forms):
        depth += (c == "(") - (c == ")")
        if c == "|" and depth == 0:
            out.append(forms[start:i])
            start = i + 1
    return out + [forms[start:]]


def _compile() -> tuple[dict[str, re.Pattern], re.Pattern, re.Pattern, list[str]]:
    """The forms grouped by their first character (tried only where a word starts with it), the few that open with
    a group in one pattern, the class of first characters, and each form's English by group number."""
    by_first: dict[str, list[str]] = {}
    grouped, english = [], []
    for gloss, forms in _LEXICON:
        for form in _forms(forms):
            form = _fold(form) if not re.search(r"[\\()\[\]?*+]", form) else form
            if not _LATIN_OR_GREEK.match(form):  # no \\w* in scripts whose vowel signs are marks, not letters
                part = form.replace(chr(92) + "w*", chr(92) + "S*")
            elif len(form) <= 4:  # a short word is read whole: "mai" is Italian's never, "mail" is not
                part = f"{form}(?![^\\W\\d_])"
            else:
                part = f"{form}\\w*"
            named = f"(?P<g{len(english)}>{part})"
            english.append(gloss)
            if form.startswith("("):
                grouped.append(f"(?<![^\\W\\d_]){named}")
            else:
                by_first.setdefault(form[0], []).append(named)
    firsts = re.compile("[" + "".join(re.escape(c) for c in by_first) + "]")
    return ({c: re.compile("|".join(parts)) for c, parts in by_first.items()}, re.compile("|".join(grouped)),
            firsts, english)


@functools.cache
def _patterns() -> tuple[dict[str, re.Pattern], re.Pattern, re.Pattern, list[str]]:
    """`_compile`'s patterns, built on first use: ~80 ms of regex compiling that a command which never reads a
    non-English text (`export-lessons` of English lessons, `stats`) should not pay at import."""
    return _compile()


# The first five letters of lexicon forms: an ASCII-only text is read only when a word of it starts so.
_ENGLISH_WORDS = frozenset("assistant assistants transfer password ignore refund always never account".split())
_ENGLISH_STARTS = frozenset("trans instr ident ignor verif passw contr conta numer regul assis sende valor compt "
                            "revel omite saute salta agent inter total impor confi confe passe carte".split())
ASCII_CUES = frozenset(w.encode() for gloss, forms in _LEXICON for form in _forms(forms)
                       for w in re.findall(r"(?<![a-z\\])[a-z]{5,}", form) if w not in _ENGLISH_WORDS for w in [w[:5]]
                       if w not in _ENGLISH_STARTS)


def _sentence(text: str) -> list[str]:
    by_first, grouped, firsts, english = _patterns()
    hits: list[tuple[int, str]] = []
    done = 0
    for first in firsts.finditer(text):
        at = first.start()
        if at < done or (at and text[at - 1].isalpha() and _LATIN_OR_GREEK.match(first.group(0))):
            continue  # inside an earlier match, or not at a word start
        match = by_first[first.group(0)].match(text, at)
        if match:
            hits.append((at, english[int(match.lastgroup[1:])]))
            done = match.end()
    hits += [(m.start(), english[int(m.lastgroup[1:])]) for m in grouped.finditer(text)]
    hits += [(m.start(), m.group(0)) for m in _KEEP.finditer(text)]
    hits.sort()
    words = [w for _, w in hits]
    if "ignore" in words and "instructions" in words:
        at = words.index("ignore")
        if not (at and words[at - 1] == "never"):
            words = [w for w in words if w not in ("ignore", "instructions")]
            words.insert(min(at, len(words)), "ignore all previous instructions,")
    return words


def _windows(text: str, words: set[bytes]) -> str:
    """The parts of `text` around its letters from other scripts and accented Latin, and around ASCII words that
    start like a lexicon form, joined: a long English tool output pays for its few foreign words only."""
    spots = [m.start() for m in _FOREIGN.finditer(text, 0, MAX_CHARS * 4)][:4096]
    lower = text.lower()
    for cue in {w for w in words if w[:5] in ASCII_CUES}:
        at = lower.find(cue.decode())
        spots += [at] if at >= 0 else []
    if not spots:
        return ""
    spots.sort()
    parts, lo, hi = [], max(0, spots[0] - WINDOW), spots[0] + WINDOW
    for at in spots[1:]:
        if at - WINDOW > hi:
            parts.append(text[lo:hi])
            lo = at - WINDOW
        hi = at + WINDOW
    parts.append(text[lo:hi])
    return "\n".join(parts)[:MAX_CHARS]


def gloss(text: str, words: set[bytes]) -> str | None:
    """`text` read in English, sentence by sentence, when it holds at least two concepts of the lexicon; None
    otherwise. `words` are its lowercase ASCII words (the cheap test for an ASCII-only text)."""
    if (text.isascii() or len(text.encode("utf-8", "surrogatepass")) - len(text) < 6) \
            and not {w[:5] for w in words} & ASCII_CUES:
        return None  # English, or a stray curly quote or dash: not a text in another language
    folded = _fold(_windows(text, words))
    out, concepts = [], 0
    for sentence in _SENTENCE_END.split(folded):
        read = _sentence(sentence)
        concepts += sum(1 for w in read if not w[:1].isdigit() and "@" not in w)
        if read:
            out.append(" ".join(read) + ".")
    return " ".join(out) if concepts >= 2 else None


def concepts(text: str) -> int:
    """How many concepts of the lexicon `text` holds (0: a language the lexicon does not know, or English)."""
    folded = _fold(text[:MAX_CHARS])
    return sum(1 for sentence in _SENTENCE_END.split(folded) for w in _sentence(sentence)
               if not w[:1].isdigit() and "@" not in w)
