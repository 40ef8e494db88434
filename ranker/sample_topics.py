"""Topics for the synthetic sample: COVID-research-style queries written for this project.

Each topic: (query, paraphrases, decoys).
- paraphrases say what the query asks in other words, mostly without its keywords, so a
  relevant title often shares few words with the query;
- decoys reuse the query's keywords about something else, so an irrelevant title often
  shares many words with it.
"""

from __future__ import annotations

TOPICS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "coronavirus origin",
        (
            "the zoonotic source of SARS-CoV-2",
            "bat and pangolin reservoirs of the pandemic virus",
            "spillover of the novel betacoronavirus from wildlife to humans",
            "the animal ancestry of the 2019 outbreak strain",
        ),
        (
            "the origin of patients admitted to coronavirus wards",
            "country of origin and coronavirus travel restrictions",
            "origin-destination mobility data under coronavirus lockdown",
        ),
    ),
    (
        "coronavirus response to weather changes",
        (
            "seasonality of SARS-CoV-2 transmission with temperature and humidity",
            "climate and humidity effects on COVID-19 spread",
            "whether warm summer months slow the pandemic",
            "ultraviolet light, heat and viral survival outdoors",
        ),
        (
            "emergency response teams during coronavirus and severe weather events",
            "changes in hospital staffing in response to coronavirus",
            "weather forecasting services disrupted by coronavirus restrictions",
        ),
    ),
    (
        "coronavirus immunity",
        (
            "protective antibodies after SARS-CoV-2 infection",
            "durability of the humoral and cellular response in convalescents",
            "cross-protection from seasonal common-cold viruses against COVID-19",
            "neutralizing antibody titres months after recovery",
        ),
        (
            "immunity of hospital budgets to coronavirus cuts",
            "legal immunity for physicians during the coronavirus crisis",
            "immunity passports and coronavirus privacy debates",
        ),
    ),
    (
        "how do people die from coronavirus",
        (
            "causes of death in fatal COVID-19 autopsy series",
            "respiratory failure and multiorgan collapse in lethal SARS-CoV-2 disease",
            "post-mortem lung pathology of deceased patients",
            "fatal thrombosis and acute respiratory distress in severe cases",
        ),
        (
            "how people cope with coronavirus lockdown boredom",
            "how coronavirus changed the way people shop online",
            "people who die by suicide: trends before coronavirus",
        ),
    ),
    (
        "animal models of COVID-19",
        (
            "hamster and ferret infection models for SARS-CoV-2",
            "transgenic mice expressing human ACE2 for preclinical studies",
            "nonhuman primate challenge experiments with the novel coronavirus",
            "experimental infection of laboratory species for drug testing",
        ),
        (
            "animal shelters and pet adoption during COVID-19",
            "statistical models of COVID-19 hospital demand",
            "business models of veterinary practices under COVID-19",
        ),
    ),
    (
        "coronavirus test rapid testing",
        (
            "point-of-care antigen assays for SARS-CoV-2",
            "loop-mediated isothermal amplification for quick viral detection",
            "CRISPR-based diagnostics with results in minutes",
            "fast lateral-flow detection of the virus at the bedside",
        ),
        (
            "rapid changes in testing of university students' knowledge during coronavirus",
            "stress testing of banks after the coronavirus shock",
            "rapid review of coronavirus messaging on social media",
        ),
    ),
    (
        "serological tests for coronavirus",
        (
            "antibody assays for detecting prior SARS-CoV-2 exposure",
            "ELISA measurement of IgG and IgM against the spike protein",
            "seroprevalence surveys using blood sampling",
            "sensitivity of immunoassays for convalescent sera",
        ),
        (
            "tests of student readiness for online learning during coronavirus",
            "psychological tests of anxiety under coronavirus lockdown",
            "load tests of hospital information systems during coronavirus surges",
        ),
    ),
    (
        "coronavirus under reporting",
        (
            "undetected infections and the true incidence of COVID-19",
            "missed cases due to limited diagnostic capacity",
            "excess mortality beyond official pandemic death counts",
            "estimating the hidden burden of SARS-CoV-2 from seroprevalence",
        ),
        (
            "reporting guidelines for coronavirus clinical trials",
            "media reporting of coronavirus and public trust",
            "underreporting of workplace injuries before coronavirus",
        ),
    ),
    (
        "coronavirus in Canada",
        (
            "the COVID-19 epidemic in Ontario and Quebec",
            "Canadian provincial responses to SARS-CoV-2",
            "long-term care home outbreaks in Toronto and Montreal",
            "pandemic policy across Canadian provinces",
        ),
        (
            "coronavirus in Brazil: a national epidemic curve",
            "coronavirus in the United States prison system",
            "Canada geese migration unaffected by coronavirus lockdown",
        ),
    ),
    (
        "coronavirus social distancing impact",
        (
            "how physical distancing flattened the epidemic curve",
            "stay-at-home orders and reduced viral transmission",
            "mobility reductions and falling reproduction numbers",
            "effect of lockdown measures on case growth",
        ),
        (
            "social media impact of coronavirus misinformation",
            "impact of coronavirus on social security payments",
            "social impact bonds unaffected by coronavirus",
        ),
    ),
    (
        "coronavirus hospital rationing",
        (
            "allocation of scarce ventilators during COVID-19 surges",
            "triage protocols for intensive care beds in the pandemic",
            "ethical frameworks for prioritising critically ill patients",
            "crisis standards of care when ICU capacity is exceeded",
        ),
        (
            "hospital food services during coronavirus",
            "rationing of toilet paper in supermarkets during coronavirus",
            "hospital parking policies for coronavirus staff",
        ),
    ),
    (
        "coronavirus quarantine",
        (
            "isolation of contacts at home to stop SARS-CoV-2 spread",
            "fourteen-day confinement of travellers after exposure",
            "mental strain of enforced self-isolation",
            "household separation and cohorting of infected persons",
        ),
        (
            "quarantine of imported plant pests: historical lessons",
            "coronavirus genomes in the quarantine software repository",
            "veterinary quarantine of horses unrelated to coronavirus",
        ),
    ),
    (
        "how does coronavirus spread",
        (
            "airborne and droplet transmission of SARS-CoV-2",
            "aerosol generation and indoor infection risk",
            "contact with contaminated surfaces and fomite infection",
            "person-to-person transmission routes of the new virus",
        ),
        (
            "how coronavirus news spread on Twitter",
            "spread of coronavirus conspiracy theories online",
            "how does the spread of bond yields react to coronavirus",
        ),
    ),
    (
        "coronavirus super spreaders",
        (
            "superspreading events at choirs, churches and meatpacking plants",
            "overdispersion of secondary infections in SARS-CoV-2 clusters",
            "individuals who infect many others at mass gatherings",
            "heterogeneity of transmission and the dispersion parameter k",
        ),
        (
            "spreaders of fake news about coronavirus on social media",
            "super bowl advertising spending after coronavirus",
            "cheese spreaders and food safety in coronavirus lockdown",
        ),
    ),
    (
        "coronavirus outside body",
        (
            "survival of SARS-CoV-2 in air and on skin",
            "viability of the virus in the environment after shedding",
            "persistence of infectious particles outside a host",
            "decay of viral infectivity in aerosols",
        ),
        (
            "body image concerns among adolescents during coronavirus",
            "outside school activities cancelled because of coronavirus",
            "body mass index and coronavirus hospitalization",
        ),
    ),
    (
        "how long does coronavirus survive on surfaces",
        (
            "stability of SARS-CoV-2 on plastic, steel and cardboard",
            "persistence of the virus on inanimate materials",
            "environmental contamination of hospital rooms with viral RNA",
            "viral half-life on copper and other materials",
        ),
        (
            "how long do coronavirus patients stay in intensive care",
            "how small businesses survive coronavirus closures",
            "surfaces of lung imaging in coronavirus pneumonia",
        ),
    ),
    (
        "coronavirus clinical trials",
        (
            "randomized controlled studies of COVID-19 therapeutics",
            "registered interventional studies for SARS-CoV-2",
            "adaptive platform designs for pandemic treatments",
            "placebo-controlled evaluation of candidate therapies",
        ),
        (
            "clinical trials of cancer drugs disrupted by coronavirus",
            "clinical skills teaching moved online during coronavirus",
            "trials and tribulations of restaurant owners under coronavirus",
        ),
    ),
    (
        "masks prevent coronavirus",
        (
            "face coverings and reduced transmission of SARS-CoV-2",
            "N95 respirators versus surgical facial protection",
            "filtration efficiency of cloth face coverings",
            "universal face covering policies and infection rates",
        ),
        (
            "masks of anxiety: hidden depression during coronavirus",
            "preventing burnout in coronavirus nurses",
            "oxygen masks and high-flow nasal cannula in coronavirus pneumonia",
        ),
    ),
    (
        "what alcohol sanitizer kills coronavirus",
        (
            "ethanol and isopropanol hand rub efficacy against SARS-CoV-2",
            "WHO-recommended hand rub formulations inactivating enveloped viruses",
            "virucidal activity of disinfectants on the novel coronavirus",
            "hand hygiene products that inactivate the virus",
        ),
        (
            "alcohol consumption increases during coronavirus lockdown",
            "alcohol use disorder treatment during coronavirus",
            "what kills small businesses during coronavirus",
        ),
    ),
    (
        "coronavirus and ACE inhibitors",
        (
            "renin-angiotensin blockers and COVID-19 severity",
            "angiotensin receptor blockers in hypertensive SARS-CoV-2 patients",
            "discontinuing antihypertensive drugs during the pandemic",
            "ACE2 expression and blood pressure medication",
        ),
        (
            "protease inhibitors for coronavirus in HIV patients",
            "inhibitors of neutrophil extracellular traps in coronavirus",
            "proton pump inhibitors and coronavirus outcomes",
        ),
    ),
    (
        "coronavirus mortality",
        (
            "case fatality rates of COVID-19 by age",
            "deaths among hospitalized SARS-CoV-2 patients",
            "infection fatality ratio estimates across countries",
            "risk factors for dying from the novel coronavirus",
        ),
        (
            "mortality of bees unrelated to coronavirus lockdown",
            "stock market mortality tables revised after coronavirus",
            "infant mortality trends in the decade before coronavirus",
        ),
    ),
    (
        "coronavirus heart impacts",
        (
            "myocarditis and cardiac injury in COVID-19",
            "troponin elevation and arrhythmias in SARS-CoV-2 infection",
            "cardiovascular complications of the novel coronavirus",
            "heart failure after severe viral pneumonia",
        ),
        (
            "heart of the city: coronavirus impacts on downtown retail",
            "impacts of coronavirus on heart transplant waiting lists",
            "heartfelt messages to nurses during coronavirus",
        ),
    ),
    (
        "coronavirus hypertension",
        (
            "high blood pressure as a risk factor for severe COVID-19",
            "outcomes of hypertensive patients with SARS-CoV-2",
            "elevated blood pressure and mortality in hospitalized patients",
            "comorbid raised arterial pressure in the pandemic",
        ),
        (
            "pulmonary arterial hypertension clinics closed by coronavirus",
            "hypertension screening programmes paused by coronavirus",
            "portal hypertension management guidelines before coronavirus",
        ),
    ),
    (
        "coronavirus diabetes",
        (
            "glycaemic control and COVID-19 outcomes",
            "hyperglycemia in patients hospitalized with SARS-CoV-2",
            "insulin resistance and severe viral pneumonia",
            "new-onset high blood sugar after infection with the novel virus",
        ),
        (
            "diabetes education moved to telehealth because of coronavirus",
            "diabetes insipidus case series unrelated to coronavirus",
            "diabetes drug supply chains and coronavirus trade",
        ),
    ),
    (
        "coronavirus biomarkers",
        (
            "D-dimer, ferritin and interleukin-6 as predictors of severe COVID-19",
            "laboratory markers of poor prognosis in SARS-CoV-2",
            "lymphopenia and C-reactive protein in critical illness",
            "blood indicators of disease progression in the pandemic",
        ),
        (
            "biomarkers of Alzheimer's disease in coronavirus-era trials",
            "cancer biomarkers testing delayed by coronavirus",
            "biomarkers of air pollution during coronavirus lockdown",
        ),
    ),
    (
        "coronavirus early symptoms",
        (
            "fever, dry cough and loss of smell at illness onset",
            "anosmia and ageusia as first signs of SARS-CoV-2",
            "clinical presentation in the first days of COVID-19",
            "initial manifestations of the novel viral pneumonia",
        ),
        (
            "early retirement decisions during coronavirus",
            "symptoms of burnout in coronavirus health workers",
            "early childhood education closures due to coronavirus",
        ),
    ),
    (
        "coronavirus asymptomatic",
        (
            "silent carriers of SARS-CoV-2 without clinical signs",
            "presymptomatic transmission from infected contacts",
            "proportion of infections that never develop illness",
            "subclinical infection in children and young adults",
        ),
        (
            "asymptomatic bacteriuria in pregnancy before coronavirus",
            "asymptomatic gallstones: management during coronavirus delays",
            "asymptomatic carotid stenosis surgery postponed by coronavirus",
        ),
    ),
    (
        "coronavirus hydroxychloroquine",
        (
            "antimalarial drugs for treating COVID-19",
            "chloroquine derivatives and azithromycin in SARS-CoV-2 patients",
            "QT prolongation with antimalarial therapy in the pandemic",
            "randomized evidence on antimalarials for viral pneumonia",
        ),
        (
            "hydroxychloroquine supply for lupus patients during coronavirus shortages",
            "hydroxychloroquine in rheumatoid arthritis: a ten-year cohort",
            "retinal toxicity of long-term hydroxychloroquine use",
        ),
    ),
    (
        "coronavirus drug repurposing",
        (
            "existing approved medicines screened against SARS-CoV-2",
            "virtual screening of licensed compounds for COVID-19 targets",
            "host protein interaction maps to find new uses for old drugs",
            "in silico docking of marketed drugs to the main protease",
        ),
        (
            "drug overdose deaths during coronavirus",
            "repurposing hotels as homeless shelters during coronavirus",
            "drug trafficking routes changed by coronavirus borders",
        ),
    ),
    (
        "coronavirus remdesivir",
        (
            "nucleotide analogue RNA polymerase inhibitors for COVID-19",
            "the adenosine analogue GS-5734 in hospitalized patients",
            "antiviral therapy shortening time to recovery in SARS-CoV-2",
            "compassionate use of a broad-spectrum antiviral prodrug",
        ),
        (
            "remdesivir pricing and access debates after coronavirus",
            "remdesivir in Ebola virus disease: a West African trial",
            "remdesivir manufacturing patents unrelated to coronavirus",
        ),
    ),
    (
        "difference between coronavirus and flu",
        (
            "COVID-19 versus influenza: severity and transmissibility",
            "comparing SARS-CoV-2 pneumonia with seasonal influenza pneumonia",
            "clinical features distinguishing the two respiratory infections",
            "hospitalized influenza and COVID-19 patients compared",
        ),
        (
            "difference between coronavirus stimulus packages in Europe",
            "flu vaccine uptake among health workers a decade ago",
            "differences between coronavirus tweets and news articles",
        ),
    ),
    (
        "coronavirus subtypes",
        (
            "SARS-CoV-2 lineages and clades worldwide",
            "genetic variants of the pandemic virus",
            "phylogenetic classes L and S of the viral genome",
            "strain diversity and nomenclature of circulating lineages",
        ),
        (
            "subtypes of breast cancer treated during coronavirus",
            "personality subtypes and coronavirus compliance",
            "subtypes of influenza A circulating before coronavirus",
        ),
    ),
    (
        "coronavirus vaccine candidates",
        (
            "mRNA and adenovirus vector immunization against SARS-CoV-2",
            "inactivated whole-virion shots in phase 1 trials",
            "spike-based immunogens in clinical development",
            "protein subunit approaches to prevent COVID-19",
        ),
        (
            "candidates for public office campaigning during coronavirus",
            "job candidates interviewed remotely during coronavirus",
            "influenza vaccine candidates for the 2019 season",
        ),
    ),
    (
        "coronavirus recovery",
        (
            "long-term sequelae after COVID-19 discharge",
            "persistent fatigue and breathlessness months after infection",
            "rehabilitation of survivors of severe SARS-CoV-2",
            "post-acute syndrome and lasting organ damage",
        ),
        (
            "economic recovery plans after coronavirus",
            "recovery of air travel demand after coronavirus",
            "recovery of coral reefs during coronavirus tourism pause",
        ),
    ),
    (
        "coronavirus public datasets",
        (
            "open data resources on COVID-19 cases and literature",
            "shared repositories of SARS-CoV-2 genomes and case counts",
            "a machine-readable corpus of pandemic research papers",
            "dashboards and open epidemiological time series",
        ),
        (
            "public trust in coronavirus guidance",
            "public transport ridership during coronavirus",
            "private datasets for credit scoring before coronavirus",
        ),
    ),
    (
        "SARS-CoV-2 spike structure",
        (
            "cryo-EM of the prefusion glycoprotein trimer",
            "receptor-binding domain bound to ACE2 at atomic resolution",
            "conformations of the viral fusion protein",
            "three-dimensional architecture of the surface glycoprotein",
        ),
        (
            "spike in unemployment claims after SARS-CoV-2",
            "structure of hospital command teams during SARS-CoV-2",
            "spike in alcohol sales during SARS-CoV-2 lockdown",
        ),
    ),
    (
        "SARS-CoV-2 phylogenetic analysis",
        (
            "evolutionary trees of the novel coronavirus genomes",
            "molecular clock dating of the outbreak's ancestor",
            "genomic epidemiology of early viral introductions",
            "relationships between bat viruses and the pandemic virus",
        ),
        (
            "statistical analysis of SARS-CoV-2 hospital admissions",
            "phylogenetic analysis of dengue in Brazil",
            "cost analysis of SARS-CoV-2 intensive care",
        ),
    ),
    (
        "COVID inflammatory response",
        (
            "pathogenesis of lung injury in SARS-CoV-2 infection",
            "innate immune activation and tissue damage in severe disease",
            "macrophage and neutrophil activity in the infected lung",
            "mechanisms of hyperinflammation in critical cases",
        ),
        (
            "inflammatory bowel disease care during COVID",
            "COVID and the public response to misinformation",
            "anti-inflammatory diets promoted online during COVID",
        ),
    ),
    (
        "COVID-19 cytokine storm",
        (
            "interleukin-6 driven hyperinflammation in severe SARS-CoV-2",
            "tocilizumab for overwhelming immune activation",
            "macrophage activation syndrome in critical viral pneumonia",
            "excessive release of inflammatory mediators in the ICU",
        ),
        (
            "a storm of COVID-19 misinformation on social media",
            "storm surge preparedness during COVID-19",
            "brainstorm sessions for COVID-19 business planning",
        ),
    ),
    (
        "coronavirus mutations",
        (
            "the D614G substitution and viral fitness",
            "genetic changes accumulating in SARS-CoV-2 genomes",
            "rates of nucleotide change in the pandemic virus",
            "escape variants of the receptor-binding domain",
        ),
        (
            "mutations in tumour genes: cancer screening during coronavirus",
            "social mutations of work culture after coronavirus",
            "BRCA mutations carriers' care in the coronavirus era",
        ),
    ),
    (
        "COVID-19 in African-Americans",
        (
            "racial disparities in SARS-CoV-2 hospitalization and death",
            "excess pandemic burden among Black communities in the United States",
            "structural racism and unequal infection rates",
            "ethnic minority outcomes of the pandemic in US cities",
        ),
        (
            "COVID-19 in Africa: early epidemic curves",
            "African swine fever outbreaks before COVID-19",
            "American football seasons cancelled by COVID-19",
        ),
    ),
    (
        "Vitamin D and COVID-19",
        (
            "cholecalciferol supplementation and SARS-CoV-2 severity",
            "serum 25-hydroxy levels and infection risk",
            "sunlight-derived micronutrient deficiency in severe cases",
            "calcifediol treatment of hospitalized patients",
        ),
        (
            "vitamin C infusions in sepsis before COVID-19",
            "vitamin B12 deficiency in vegetarians",
            "hepatitis D prevalence during COVID-19",
        ),
    ),
    (
        "violence during pandemic",
        (
            "domestic abuse calls under stay-at-home orders",
            "intimate partner assaults rising in lockdown",
            "gun crime and homicide trends in 2020",
            "child maltreatment reports during school closures",
        ),
        (
            "the pandemic influenza preparedness plan of 2009",
            "violence in video games and adolescent behaviour",
            "pandemic-era telemedicine for dermatology",
        ),
    ),
    (
        "impact of masks on coronavirus transmission",
        (
            "face coverings reducing community spread of SARS-CoV-2",
            "source control by cloth coverings in public",
            "mandatory face covering laws and case growth",
            "respiratory protection and secondary attack rates",
        ),
        (
            "impact of coronavirus on makeup and cosmetics sales",
            "transmission line maintenance during coronavirus",
            "masks in theatre history and coronavirus closures",
        ),
    ),
    (
        "coronavirus mental health impact",
        (
            "depression and anxiety during COVID-19 lockdown",
            "psychological distress among health workers in the pandemic",
            "loneliness and suicidal ideation under isolation",
            "post-traumatic stress in survivors of severe SARS-CoV-2",
        ),
        (
            "impact of coronavirus on health insurance premiums",
            "mental arithmetic tests in online schooling during coronavirus",
            "health impact of air pollution drops during coronavirus",
        ),
    ),
    (
        "dexamethasone coronavirus",
        (
            "corticosteroids reducing deaths in ventilated COVID-19 patients",
            "low-dose glucocorticoid therapy in severe SARS-CoV-2",
            "the RECOVERY trial of steroid treatment",
            "systemic steroids for hypoxaemic viral pneumonia",
        ),
        (
            "dexamethasone for postoperative nausea before coronavirus",
            "dexamethasone in bacterial meningitis in children",
            "dexamethasone suppression test in Cushing's syndrome",
        ),
    ),
    (
        "COVID-19 outcomes in children",
        (
            "paediatric SARS-CoV-2 infection severity",
            "multisystem inflammatory syndrome in young patients",
            "hospitalization of infants and adolescents with the virus",
            "mild illness in the youngest age groups",
        ),
        (
            "children's screen time during COVID-19",
            "outcomes of COVID-19 in elderly nursing home residents",
            "children's vaccination schedules delayed by COVID-19",
        ),
    ),
    (
        "school reopening coronavirus",
        (
            "transmission in classrooms after pupils return",
            "risks and benefits of resuming in-person education",
            "outbreaks in daycare and primary education settings",
            "teachers' infection risk when teaching resumes",
        ),
        (
            "medical school curriculum moved online due to coronavirus",
            "reopening of restaurants after coronavirus lockdown",
            "school meal programmes and food insecurity before coronavirus",
        ),
    ),
    (
        "post-infection COVID-19 immunity",
        (
            "reinfection risk in people who recovered from SARS-CoV-2",
            "memory T cells and antibody persistence after illness",
            "protection against a second infection in convalescents",
            "waning humoral responses months after recovery",
        ),
        (
            "post-operative infection rates during COVID-19 elective surgery pauses",
            "herd immunity strategies debated in Sweden's economy",
            "post-traumatic growth after COVID-19 lockdown",
        ),
    ),
    (
        "mRNA vaccine coronavirus",
        (
            "lipid nanoparticle nucleoside-modified immunogens against SARS-CoV-2",
            "BNT162b2 and mRNA-1273 trial results",
            "messenger RNA immunization eliciting neutralizing antibodies",
            "safety of the nucleic-acid shots in phase 3 trials",
        ),
        (
            "mRNA expression profiling of tumours before coronavirus",
            "influenza vaccine effectiveness in the elderly",
            "coronavirus vaccine hesitancy among parents on social media",
        ),
    ),
)

# Framing around a phrase, in the style of paper titles.
TEMPLATES: tuple[str, ...] = (
    "{P}: a systematic review",
    "{P} in hospitalized patients: a retrospective cohort study",
    "Evidence on {p} from a multicentre study in Wuhan",
    "{P}: lessons from SARS and MERS",
    "Modelling {p} in the early phase of the pandemic",
    "What we know so far about {p}",
    "A retrospective analysis of {p} among 1,099 cases",
    "{P} — a rapid evidence review",
    "New insights into {p}",
    "Characterising {p} in a prospective multinational study",
    "{P}: a narrative review of the first six months",
    "Rethinking {p}",
    "A cross-sectional survey of {p} in Italy",
    "Understanding {p}: current evidence and open questions",
)
